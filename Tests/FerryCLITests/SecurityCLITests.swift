import FerryTestSupport
import Foundation
import Testing
import ZeroMQ

/// `ferry keygen`, and every command's keys from flags, the environment or the configuration
/// file, against a ferryd serving CURVE.
@Suite("ferry with CURVE keys", .serialized, .timeLimit(.minutes(2)))
struct SecurityCLITests {
    @Test("keygen writes a secret file only its owner reads and a public one, and never overwrites by accident")
    func keygen() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-keygen-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await CLIProcess.run(["keygen", "ops", "--dir", directory])
        #expect(result.status == 0, "\(result.stderr)")
        let secret = try CurveCertificate.load(path: directory + "/ops.key_secret")
        let shared = try CurveCertificate.load(path: directory + "/ops.key")
        #expect(secret.secretKey != nil && shared.secretKey == nil && secret.publicKey == shared.publicKey)
        #expect(result.stdout.contains("- name: ops") && result.stdout.contains(secret.publicKey))
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/ops.key_secret")[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let again = try await CLIProcess.run(["keygen", "ops", "--dir", directory])
        #expect(again.status == 1 && again.stderr.contains("--force"))
        #expect(try CurveCertificate.load(path: directory + "/ops.key_secret") == secret)
        let forced = try await CLIProcess.run(["keygen", "ops", "--dir", directory, "--force"])
        #expect(forced.status == 0)
        #expect(try CurveCertificate.load(path: directory + "/ops.key_secret") != secret)
        let bad = try await CLIProcess.run(["keygen", "../escape", "--dir", directory])
        #expect(bad.status == 64)
    }

    @Test("keys from flags, environment or config file reach a CURVE ferryd; a forbidden topic and missing keys say why")
    func keysEverywhere() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-cli-keys-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let keygen = try await CLIProcess.run(["keygen", "ops", "--dir", directory.path])
        #expect(keygen.status == 0)
        let keys = try #require(try CurveCertificate.load(path: directory.path + "/ops.key_secret").keyPair)
        let ops = try TestCredentials.Principal(
            "ops", keys: keys, rules: "allow:\n  publish: [\"orders.>\"]\n  admin: { history: true, stats: true }")
        let credentials = try TestCredentials([ops])
        let ferryd = try await Ferryd(credentials.ferrydArguments)
        let serverKeyFile = directory.appendingPathComponent("ferryd.key").path
        try CurveCertificate(publicKey: credentials.server.publicKey, secretKey: nil).text(includingSecret: false)
            .write(toFile: serverKeyFile, atomically: true, encoding: .utf8)
        let secretFile = directory.path + "/ops.key_secret"

        let flags = try await CLIProcess.run([
            "publish", "orders.created", "{}", "--broker", ferryd.endpoint, "--server-key", serverKeyFile, "--client-key-file", secretFile,
        ])
        #expect(flags.status == 0, "\(flags.stderr)")
        let environment = try await CLIProcess.run(
            ["--broker", ferryd.endpoint, "--json", "stats"],
            environment: ["FERRY_SERVER_KEY": credentials.server.publicKey, "FERRY_CLIENT_KEY_FILE": secretFile])
        #expect(environment.status == 0, "\(environment.stderr)")
        // The configuration file names the broker and the keys, relative to itself.
        let config = directory.appendingPathComponent("config.yaml").path
        try "broker: \(ferryd.endpoint)\nserver_key: ferryd.key\nclient_key_file: ops.key_secret\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let fromFile = try await CLIProcess.run(["history", "k"], environment: ["FERRY_CONFIG": config])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")

        let forbidden = try await CLIProcess.run(["publish", "payments.captured", "{}"], environment: ["FERRY_CONFIG": config])
        #expect(forbidden.status == 1 && forbidden.stderr.contains("FORBIDDEN"), "\(forbidden.stderr)")
        let keyless = try await CLIProcess.run(["--broker", ferryd.endpoint, "--timeout", "1", "stats"])
        #expect(keyless.status == 69 && keyless.stderr.contains("--server-key"), "\(keyless.stderr)")
        let halfKeys = try await CLIProcess.run(["--broker", ferryd.endpoint, "stats", "--server-key", serverKeyFile])
        #expect(halfKeys.status == 64 && halfKeys.stderr.contains("FERRY_CLIENT_KEY_FILE"), "\(halfKeys.stderr)")
        try "brokr: x\n".write(toFile: config, atomically: true, encoding: .utf8)
        let typo = try await CLIProcess.run(["stats"], environment: ["FERRY_CONFIG": config])
        #expect(typo.status == 64 && typo.stderr.contains("unknown setting 'brokr'"), "\(typo.stderr)")
    }
}
