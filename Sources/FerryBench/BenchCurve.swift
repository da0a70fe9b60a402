import Foundation
import ZeroMQ

/// The CURVE keys of a bench run: the broker's public key and the generator's own key pair.
/// For a ferryd the bench starts, all generated, with a credentials file that grants the
/// generator everything; for a running broker, from FERRY_SERVER_KEY and FERRY_CLIENT_KEY_FILE.
struct BenchCurve: Sendable {
    let serverPublicKey: String
    let client: CurveKeyPair

    /// Generates the server's and the generator's keys, writes the files a ferryd needs into
    /// `directory`, and returns the keys with ferryd's arguments.
    static func generate(in directory: URL) throws -> (curve: BenchCurve, ferrydArguments: [String]) {
        let server = try CurveCertificate.generate()
        let client = try CurveKeyPair.generate()
        let secretFile = directory.appendingPathComponent("ferryd.key_secret").path
        let credentialsFile = directory.appendingPathComponent("credentials.yaml").path
        try server.text(includingSecret: true).write(toFile: secretFile, atomically: true, encoding: .utf8)
        chmod(secretFile, 0o600)
        let credentials = """
            principals:
              - name: bench
                keys: ["\(client.publicKey)"]
                allow:
                  publish: [">"]
                  subscribe: { topics: [">"], groups: [">"] }
                  admin: { groups: [">"], history: true, stats: true }
            """
        try credentials.write(toFile: credentialsFile, atomically: true, encoding: .utf8)
        return (
            BenchCurve(serverPublicKey: server.publicKey, client: client),
            ["--curve-secret-key-file", secretFile, "--credentials", credentialsFile]
        )
    }

    /// The keys of the environment, for a running broker that serves CURVE.
    static func fromEnvironment() throws -> BenchCurve {
        let environment = ProcessInfo.processInfo.environment
        guard let serverKey = environment["FERRY_SERVER_KEY"], let clientKeyFile = environment["FERRY_CLIENT_KEY_FILE"] else {
            throw BenchError(.brokerUnreachable, "--curve with a running broker needs FERRY_SERVER_KEY and FERRY_CLIENT_KEY_FILE")
        }
        let serverPublicKey = Z85.decodeKey(serverKey) != nil ? serverKey : try CurveCertificate.load(path: serverKey).publicKey
        guard let client = try CurveCertificate.load(path: clientKeyFile).keyPair else {
            throw BenchError(.brokerUnreachable, "\(clientKeyFile) holds no secret key")
        }
        return BenchCurve(serverPublicKey: serverPublicKey, client: client)
    }

    /// Makes `socket` a CURVE client of the broker, under a routing id nobody can guess (ferryd
    /// refuses a shorter one with CURVE).
    func apply(to socket: Socket) throws {
        try socket.setRandomRoutingID(name: "bench")
        try socket.setCurveClient(
            serverKey: Z85.decodeKey(serverPublicKey) ?? [], publicKey: Z85.decodeKey(client.publicKey) ?? [],
            secretKey: Z85.decodeKey(client.secretKey) ?? [])
    }
}
