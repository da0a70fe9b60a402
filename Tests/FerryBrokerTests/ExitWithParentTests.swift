import FerryTestSupport
import Foundation
import Testing

/// `--exit-with-parent`: a ferryd started by a tool or a test harness does not outlive it, even
/// when that process is killed and cannot stop it.
@Suite("ferryd --exit-with-parent")
struct ExitWithParentTests {
    @Test("a ferryd whose parent is killed shuts itself down")
    func exitsWithItsParent() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferryd-parent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let endpointFile = directory.appendingPathComponent("endpoint").path
        let ferryd = try await OrphanableProcess(
            product: "ferryd",
            arguments: [
                "--exit-with-parent", "--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", endpointFile, "--data-dir",
                directory.appendingPathComponent("data").path, "--log-level", "warning", "--http-endpoint", "127.0.0.1:0",
            ], directory: directory)
        let started = await Wait.until(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: endpointFile) }
        try #require(started, "ferryd did not start listening")
        #expect(ferryd.isRunning)

        ferryd.orphan()
        #expect(await Wait.until(timeout: .seconds(10)) { !ferryd.isRunning }, "ferryd kept running after its parent was killed")
    }
}
