import Foundation
import Synchronization
import Testing
import FerryRuntime

@Suite("DedicatedThread", .timeLimit(.minutes(1)))
struct DedicatedThreadTests {
    @Test("the kernel sees the thread's name, cut to 15 bytes")
    func kernelName() {
        let seen = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        for name in ["ferry-test", "ferry-test-a-long-name"] {
            DedicatedThread.start(name: name) {
                let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "unreadable"
                seen.withLock { $0.append(comm.trimmingCharacters(in: .newlines)) }
                done.signal()
            }
            #expect(done.wait(timeout: .now() + 10) == .success)
        }
        #expect(seen.withLock { $0 } == ["ferry-test", "ferry-test-a-lo"])
    }
}
