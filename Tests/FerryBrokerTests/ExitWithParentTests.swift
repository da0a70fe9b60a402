import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `--exit-with-parent`: a ferryd started by a tool or a test harness does not outlive it, even
/// when that process is killed and cannot stop it.
@Suite("ferryd --exit-with-parent")
struct ExitWithParentTests {
    @Test("a ferryd whose parent is killed shuts itself down")
    func exitsWithItsParent() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferryd-parent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A shell starts ferryd, notes its pid and waits: killing the shell orphans ferryd.
        let script = """
            "$0" --exit-with-parent --endpoint tcp://127.0.0.1:0 --endpoint-file "$1/endpoint" \
              --data-dir "$1/data" --log-level warning &
            echo $! > "$1/pid"
            wait
            """
        let parent = try ManagedProcess(
            executable: URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", script, BuildProducts.url(of: "ferryd").path, directory.path])
        let pidFile = directory.appendingPathComponent("pid").path
        let endpointFile = directory.appendingPathComponent("endpoint").path
        let started = await Wait.until(timeout: .seconds(20)) {
            FileManager.default.fileExists(atPath: endpointFile) && FileManager.default.fileExists(atPath: pidFile)
        }
        try #require(started, "ferryd did not start listening")
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(pid, SIGKILL) }
        #expect(Self.isRunning(pid))

        parent.send(SIGKILL)
        #expect(await Wait.until(timeout: .seconds(10)) { !Self.isRunning(pid) }, "ferryd kept running after its parent was killed")
    }

    /// Whether `pid` is a live process (not gone, not a zombie nobody reaped yet).
    private static func isRunning(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("State:") })
        else { return false }
        return !line.contains("Z")
    }
}
