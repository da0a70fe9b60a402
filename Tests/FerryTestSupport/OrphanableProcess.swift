public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A product started by a shell that the test can kill, orphaning the product: how a test
/// checks `--exit-with-parent`, which a process started directly by the test cannot show (the
/// test would have to die). The product is SIGKILLed when this is released.
public final class OrphanableProcess: Sendable {
    private let shell: ManagedProcess
    /// The product's process id.
    public let pid: Int32

    /// Starts `product` with `arguments` under a shell that waits for it; returns once the
    /// product's pid is known.
    public init(product: String, arguments: [String], directory: URL) async throws {
        let pidFile = directory.appendingPathComponent("\(product)-\(UUID().uuidString).pid").path
        // The shell notes the product's pid and waits: killing the shell orphans the product.
        let script = #"pidfile=$1; shift; "$@" & echo $! > "$pidfile.tmp" && mv "$pidfile.tmp" "$pidfile"; wait"#
        shell = try ManagedProcess(
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", script, "sh", pidFile, BuildProducts.url(of: product).path] + arguments)
        let started = await Wait.until(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: pidFile) }
        guard started, let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw HarnessError(message: "the shell did not start \(product)") }
        self.pid = pid
    }

    deinit {
        // Only while it runs: once gone (and reaped by its new parent) the pid may be reused.
        if isRunning { kill(pid, SIGKILL) }
    }

    /// Kills the shell that started the product, leaving the product to its new parent.
    public func orphan() { shell.send(SIGKILL) }

    /// Whether the product is alive (not gone, not a zombie nobody reaped yet).
    public var isRunning: Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("State:") })
        else { return false }
        return !line.contains("Z")
    }
}
