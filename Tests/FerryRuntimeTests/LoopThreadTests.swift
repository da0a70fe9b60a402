import FerryRuntime
import Foundation
import Synchronization
import Testing

@Suite("LoopThread", .timeLimit(.minutes(1)))
struct LoopThreadTests {
    enum Command: Sendable, Equatable {
        case work(Int)
        case stop
    }

    /// A loop like the storage threads': wait, drain, stop on `.stop`; it records what it did.
    final class Recorder: Sendable {
        let thread = LoopThread<Command>(name: "ferry-test-loop")
        let seen = Mutex<[Int]>([])
        let ended = Atomic<Bool>(false)
        let threadName = Mutex<String?>(nil)

        func run() {
            threadName.withLock { $0 = Self.currentThreadName() }
            var running = true
            while running {
                thread.commands.wait()
                for command in thread.commands.drain() {
                    switch command {
                    case .work(let value): seen.withLock { $0.append(value) }
                    case .stop: running = false
                    }
                }
            }
            // Slow to end, so that a stop that did not wait would see `ended` false.
            MonotonicInstant.sleep(for: .milliseconds(50))
            ended.store(true, ordering: .releasing)
        }

        static func currentThreadName() -> String {
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "unreadable"
            return comm.trimmingCharacters(in: .newlines)
        }
    }

    @Test("the loop runs on its named thread and takes commands in order; stop waits for its end")
    func commandsInOrder() {
        let recorder = Recorder()
        recorder.thread.start { recorder.run() }
        for value in 0..<1000 { recorder.thread.commands.push(.work(value)) }
        recorder.thread.stop(sending: .stop)
        let ended = recorder.ended.load(ordering: .acquiring)
        #expect(ended)
        #expect(recorder.seen.withLock { $0 } == Array(0..<1000))
        #expect(recorder.threadName.withLock { $0 } == "ferry-test-loop")
    }

    @Test("stopping twice sends the stop once and returns both times")
    func stopTwice() {
        let recorder = Recorder()
        recorder.thread.start { recorder.run() }
        recorder.thread.commands.push(.work(1))
        recorder.thread.stop(sending: .stop)
        recorder.thread.stop(sending: .stop)
        #expect(recorder.thread.isStopRequested)
        #expect(recorder.thread.commands.drain() == [])
        #expect(recorder.seen.withLock { $0 } == [1])
    }

    @Test("the async stop, twice, returns once the loop has ended")
    func stopTwiceAsync() async {
        let recorder = Recorder()
        recorder.thread.start { recorder.run() }
        await recorder.thread.stop(sending: .stop)
        await recorder.thread.stop(sending: .stop)
        let ended = recorder.ended.load(ordering: .acquiring)
        #expect(ended)
        #expect(recorder.thread.commands.drain() == [])
    }

    @Test("the async stop resumes every waiter once the loop has ended")
    func asyncWaiters() async {
        let recorder = Recorder()
        recorder.thread.start { recorder.run() }
        async let first: Void = recorder.thread.waitUntilStopped()
        async let second: Void = recorder.thread.waitUntilStopped()
        await recorder.thread.stop(sending: .stop)
        _ = await (first, second)
        let ended = recorder.ended.load(ordering: .acquiring)
        #expect(ended)
    }

    @Test("waiting on a thread that never started returns at once")
    func neverStarted() {
        LoopThread<Command>(name: "ferry-test-idle").waitUntilStopped()
    }

    @Test("waiting on a thread that never started returns at once (async)")
    func neverStartedAsync() async {
        await LoopThread<Command>(name: "ferry-test-idle").waitUntilStopped()
    }

    struct SetUpFailed: Error {}

    @Test("a loop that must set up first: start returns what it handed to ready, or throws its error")
    func readyHandshake() throws {
        let thread = LoopThread<Command>(name: "ferry-test-ready")
        let answer = try thread.start { (ready: (Int) -> Void) in
            ready(42)
            while !thread.commands.drain().contains(.stop) { thread.commands.wait() }
        }
        #expect(answer == 42)
        thread.stop(sending: .stop)

        let failing = LoopThread<Command>(name: "ferry-test-fail")
        #expect(throws: SetUpFailed.self) {
            _ = try failing.start { (_: (Int) -> Void) in throw SetUpFailed() }
        }
        failing.waitUntilStopped()
    }
}
