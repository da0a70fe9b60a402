import Ferry
import FerryProtocol
import FerryTestSupport
import Foundation
import Testing
import ZeroMQ

/// The SDK over CURVE: an event bus and a worker with their own identities, the principal on
/// what they receive, and the refusals a user sees.
@Suite("The SDK over CURVE", .serialized, .timeLimit(.minutes(2)))
struct SecureClientTests {
    @Test("a worker and a bus with their own keys: delivered events name their publisher; forbidden publishes fail")
    func roundTrip() async throws {
        let shop = try TestCredentials.Principal(
            "shop", rules: "allow:\n  publish: [\"OrderCreated\"]\n  subscribe: { topics: [\"PaymentProcessed\"], groups: [\"shop\"] }")
        let payments = try TestCredentials.Principal(
            "payments", rules: "allow:\n  publish: [\"PaymentProcessed\"]\n  subscribe: { topics: [\"OrderCreated\"], groups: [\"payment\"] }")
        let credentials = try TestCredentials([shop, payments])
        let ferryd = try await Ferryd(credentials.ferrydArguments)
        func configuration(_ principal: TestCredentials.Principal) throws -> ClientConfiguration {
            var configuration = client(ferryd, principal.name)
            configuration.security = try ClientSecurity(
                serverPublicKey: credentials.server.publicKey, publicKey: principal.keys.publicKey, secretKey: principal.keys.secretKey)
            return configuration
        }
        let seen = Recorder<String?>()
        let worker = Worker(name: "payments", configuration: try configuration(payments))
        worker.group("payment") { group in
            group.on(OrderCreated.self) { event, context in
                seen.append(context.event.publisher)
                try await context.publish(PaymentProcessed(orderID: event.orderID, paymentID: "p-\(event.orderID)"))
            }
        }
        let running = try await RunningWorker(worker)
        let bus = try EventBus(configuration: try configuration(shop))
        try await bus.publish(OrderCreated(orderID: "1", amount: 5))
        #expect(await Wait.until(timeout: .seconds(10)) { seen.count == 1 })
        #expect(seen.all == ["shop"])
        await #expect(throws: FerryError.self) { try await bus.publish(PaymentProcessed(orderID: "1", paymentID: "forged")) }
        do {
            try await bus.publish(PaymentProcessed(orderID: "1", paymentID: "forged"))
        } catch {
            #expect(error.code == .broker(.forbidden))
        }
        try await running.stop()
        await bus.close()
    }

    @Test("a worker whose group's grant is revoked stops, and run() throws FORBIDDEN")
    func revokedGroup() async throws {
        let rules = "allow:\n  subscribe: { topics: [\"OrderCreated\"], groups: [\"payment\"] }"
        let payments = try TestCredentials.Principal("payments", rules: rules)
        let credentials = try TestCredentials([payments])
        let ferryd = try await Ferryd(credentials.ferrydArguments)
        var configuration = client(ferryd, "payments")
        configuration.security = try ClientSecurity(
            serverPublicKey: credentials.server.publicKey, publicKey: payments.keys.publicKey, secretKey: payments.keys.secretKey)
        let worker = Worker(name: "payments", configuration: configuration)
        worker.group("payment") { group in group.on(OrderCreated.self) { _, _ in } }
        let task = Task { try await worker.run() }
        await worker.waitUntilReady()

        try credentials.write([try .init("payments", keys: payments.keys, rules: rules.replacingOccurrences(of: "payment\"]", with: "audit\"]"))])
        let outcome: String = await Task {
            do {
                try await task.value
                return "returned"
            } catch {
                return "\(error)"
            }
        }.value
        #expect(outcome.hasPrefix("FORBIDDEN"), "\(outcome)")
    }

    @Test("keys come from certificate files or the environment, and bad ones are refused with INVALID_KEY")
    func keyLoading() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try KeyFiles.generate(name: "ferryd", directory: directory)
        let client = try KeyFiles.generate(name: "shop", directory: directory)
        let attributes = try FileManager.default.attributesOfItem(atPath: client.secretFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(throws: FerryError.self) { try KeyFiles.generate(name: "shop", directory: directory) }

        let fromFiles = try ClientSecurity(serverKey: server.publicFile, clientKeyFile: client.secretFile)
        #expect(fromFiles.serverPublicKey == server.publicKey && fromFiles.publicKey == client.publicKey)
        let fromText = try ClientSecurity(serverKey: server.publicKey, clientKeyFile: client.secretFile)
        #expect(fromText == fromFiles)
        let fromEnvironment = try ClientSecurity.fromEnvironment([
            "FERRY_SERVER_KEY": server.publicKey, "FERRY_CLIENT_KEY_FILE": client.secretFile,
        ])
        #expect(fromEnvironment == fromFiles)
        #expect(try ClientSecurity.fromEnvironment([:]) == nil)

        for attempt in [
            { _ = try ClientSecurity.fromEnvironment(["FERRY_SERVER_KEY": server.publicKey]) },
            { _ = try ClientSecurity(serverKey: server.publicKey, clientKeyFile: client.publicFile) },  // no secret in it
            { _ = try ClientSecurity(serverKey: "not-a-key", clientKeyFile: client.secretFile) },
            { _ = try ClientSecurity(serverKey: server.publicKey, clientKeyFile: directory + "/missing.key_secret") },
        ] as [() throws -> Void] {
            do {
                try attempt()
                Issue.record("expected INVALID_KEY")
            } catch let error as FerryError {
                #expect(error.code == .invalidKey)
            }
        }
    }
}
