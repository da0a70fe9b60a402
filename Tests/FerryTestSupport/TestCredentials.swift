public import Foundation
public import ZeroMQ

/// A server key pair and a credentials file for a ferryd that serves CURVE, in a temporary
/// directory removed with the instance.
public final class TestCredentials: @unchecked Sendable {
    /// One principal of the file: its name, keys, and its rules as YAML (`allow:` / `deny:`
    /// blocks, indented by four spaces).
    public struct Principal: Sendable {
        public let name: String
        public let keys: CurveKeyPair
        public let rules: String

        public init(_ name: String, keys: CurveKeyPair? = nil, rules: String) throws {
            self.name = name
            self.keys = try keys ?? CurveKeyPair.generate()
            self.rules = rules
        }
    }

    public let directory: URL
    public let server: CurveKeyPair
    public let serverSecretFile: String
    public let credentialsFile: String

    public init(_ principals: [Principal]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-credentials-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        server = try CurveKeyPair.generate()
        let certificate = CurveCertificate(publicKey: server.publicKey, secretKey: server.secretKey)
        serverSecretFile = directory.appendingPathComponent("ferryd.key_secret").path
        try certificate.text(includingSecret: true).write(toFile: serverSecretFile, atomically: true, encoding: .utf8)
        chmod(serverSecretFile, 0o600)
        credentialsFile = directory.appendingPathComponent("credentials.yaml").path
        try write(principals)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Replaces the credentials file (atomically, as an operator's tool should).
    public func write(_ principals: [Principal]) throws {
        try Self.text(of: principals).write(toFile: credentialsFile, atomically: true, encoding: .utf8)
    }

    /// Replaces the credentials file with `text` as it is (for broken files).
    public func write(text: String) throws {
        try text.write(toFile: credentialsFile, atomically: true, encoding: .utf8)
    }

    static func text(of principals: [Principal]) -> String {
        var text = "principals:\n"
        for principal in principals {
            text += "  - name: \(principal.name)\n    keys: [\"\(principal.keys.publicKey)\"]\n"
            text += principal.rules.split(separator: "\n").map { "    \($0)\n" }.joined()
        }
        return text
    }

    /// ferryd's arguments for CURVE with these credentials.
    public var ferrydArguments: [String] { ["--curve-secret-key-file", serverSecretFile, "--credentials", credentialsFile] }

    /// A raw client of `ferryd` authenticating as `principal`.
    public func client(of ferryd: Ferryd, as principal: Principal) throws -> RawClient {
        try RawClient(endpoint: ferryd.endpoint, curve: (server.publicKey, principal.keys))
    }
}
