public import Foundation

/// A real ferryd process on an ephemeral loopback port, with its own temporary directory.
public final class Ferryd: Sendable {
    public let process: ManagedProcess
    /// The bound endpoint, e.g. `tcp://127.0.0.1:40123`.
    public let endpoint: String
    public let directory: URL

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// The HTTP listener's base URL (`http://127.0.0.1:PORT`), waiting until it listens; nil
    /// with `--http-endpoint off`, a chosen `--http-endpoint-file`, or when it never listened.
    public func httpBase(timeout: Duration = .seconds(20)) async -> String? {
        let file = directory.appendingPathComponent("http-endpoint").path
        guard await Wait.until(timeout: timeout, { FileManager.default.fileExists(atPath: file) }) else { return nil }
        return (try? String(contentsOfFile: file, encoding: .utf8)).map { "http://" + $0 }
    }

    /// The durable log's directory (unused with `--storage memory`).
    public var dataDirectory: URL { directory.appendingPathComponent("data") }

    /// Starts ferryd with `arguments` added to the test defaults and waits until it listens.
    /// Its data directory is a fresh temporary one unless `reusing` is an earlier instance (a
    /// restart): then it shares that one's directory, which lives until every instance using
    /// it is gone.
    public init(_ arguments: [String] = [], reusing: Ferryd? = nil, endpoint: String = "tcp://127.0.0.1:0") async throws {
        directoryOwner = reusing.map { $0.directoryOwner ?? $0 }
        directory = reusing?.directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("ferryd-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let endpointFile = directory.appendingPathComponent("endpoint").path
        try? FileManager.default.removeItem(atPath: endpointFile)
        ownsDirectory = reusing == nil
        // HTTP on an ephemeral port unless the test chose (the default port would collide
        // between tests running at once).
        let http = arguments.contains("--http-endpoint") ? [] : ["--http-endpoint", "127.0.0.1:0"]
        let httpFile = directory.appendingPathComponent("http-endpoint").path
        try? FileManager.default.removeItem(atPath: httpFile)
        process = try ManagedProcess(
            product: "ferryd",
            arguments: [
                "--endpoint", endpoint, "--endpoint-file", endpointFile, "--log-level", "warning", "--exit-with-parent",
                "--data-dir", directory.appendingPathComponent("data").path,
            ] + http + (arguments.contains("--http-endpoint-file") ? [] : ["--http-endpoint-file", httpFile]) + arguments)
        let listening = await Wait.until(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: endpointFile) }
        guard listening, let endpoint = try? String(contentsOfFile: endpointFile, encoding: .utf8) else {
            // deinit does not run for an instance that never finished initialising (the process
            // is killed when `process` is released).
            if ownsDirectory { try? FileManager.default.removeItem(at: directory) }
            throw StartError(description: "ferryd did not start listening within 20 s")
        }
        self.endpoint = endpoint
    }

    private let ownsDirectory: Bool
    /// The instance that created the shared directory and deletes it when released.
    private let directoryOwner: Ferryd?

    deinit {
        if ownsDirectory { try? FileManager.default.removeItem(at: directory) }
    }
}
