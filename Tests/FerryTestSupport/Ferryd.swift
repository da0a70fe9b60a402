import Foundation

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

    /// Starts ferryd with `arguments` added to the test defaults and waits until it listens.
    public init(_ arguments: [String] = []) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferryd-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let endpointFile = directory.appendingPathComponent("endpoint").path
        process = try ManagedProcess(
            product: "ferryd",
            arguments: ["--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", endpointFile, "--log-level", "warning"] + arguments)
        let listening = await Wait.until(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: endpointFile) }
        guard listening, let endpoint = try? String(contentsOfFile: endpointFile, encoding: .utf8) else {
            throw StartError(description: "ferryd did not start listening within 20 s")
        }
        self.endpoint = endpoint
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}
