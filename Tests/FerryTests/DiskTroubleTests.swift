import Ferry
import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A small tmpfs for the data directory, so the disk really fills up. Needs root (CI runs as root).
final class SmallDisk {
    let path: URL

    init?(megabytes: Int) {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-small-disk-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        guard Self.mount(["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path.path]) else {
            try? FileManager.default.removeItem(at: path)
            return nil
        }
    }

    func resize(megabytes: Int) -> Bool { Self.mount(["-o", "remount,size=\(megabytes)m", path.path]) }

    deinit {
        _ = Self.run("/bin/umount", ["-l", path.path])
        try? FileManager.default.removeItem(at: path)
    }

    private static func mount(_ arguments: [String]) -> Bool { run("/bin/mount", arguments) }

    private static func run(_ tool: String, _ arguments: [String]) -> Bool {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: tool) else { return false }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}

@Suite("Disk trouble", .serialized, .timeLimit(.minutes(2)))
struct DiskTroubleTests {
    @Test("a full disk rejects publishes with STORAGE_FULL, keeps what was confirmed, and recovers when space returns")
    func fullDisk() async throws {
        guard let disk = SmallDisk(megabytes: 3) else {
            Issue.record("mounting a tmpfs needs root; this test cannot run here")
            return
        }
        let ferryd = try await Ferryd(["--data-dir", disk.path.appendingPathComponent("data").path])
        let bus = try EventBus(configuration: client(ferryd))
        let filler = String(repeating: "y", count: 4000)
        var confirmed: [Int] = []
        var failure: FerryError?
        for index in 0..<2000 where failure == nil {
            do {
                try await bus.publish(Blob(index: index, filler: filler), id: "blob-\(index)")
                confirmed.append(index)
            } catch {
                failure = error
            }
        }
        let error = try #require(failure, "3 MB cannot hold 8 MB of events")
        #expect(error.code == .broker(.storageFull), "\(error)")
        #expect(error.message.contains("No space left"), "the message says why: \(error.message)")

        #expect(disk.resize(megabytes: 64))
        #expect(await Wait.until(timeout: .seconds(10)) { (try? await bus.publish(Blob(index: -1, filler: filler))) != nil })

        let received = Recorder<Int>()
        let worker = Worker(name: "reader", configuration: client(ferryd, "reader"))
        worker.group("readers") { $0.on(Blob.self) { event, _ in received.append(event.index) } }
        let running = try await RunningWorker(worker)
        let expected = Set(confirmed + [-1])
        #expect(
            await Wait.until(timeout: .seconds(20)) { expected.isSubset(of: Set(received.all)) }, "every confirmed event is still there")
        try await running.stop()
        await bus.close()
        ferryd.process.send(SIGKILL)
        _ = await ferryd.process.waitForExit(timeout: .seconds(10))
    }
}
