import FerryTestSupport
import Foundation
import OrderEvents
import Testing

@Suite("email-worker against a real ferryd", .serialized, .timeLimit(.minutes(1)))
struct EmailWorkerTests {
    func emlFiles(_ outbox: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: outbox.path)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
    }

    @Test("confirmation and shipping emails appear as .eml files, one per event even when the group is replayed; a bounce is dead-lettered")
    func emails() async throws {
        let harness = try await WorkerHarness()
        let outbox = harness.dataDir.appendingPathComponent("outbox")
        let worker = try await harness.start("email-worker", group: "email", ["--bounce-users", "bouncer"])
        try await harness.bus.publish(
            OrderConfirmed.with {
                $0.orderID = "o-1"
                $0.userID = "u1"
            }, id: "confirm-1")
        try await harness.bus.publish(
            OrderShipped.with {
                $0.orderID = "o-1"
                $0.userID = "u1"
                $0.trackingNumber = "TRK-123"
            }, id: "ship/1")
        try await harness.bus.publish(
            OrderConfirmed.with {
                $0.orderID = "o-2"
                $0.userID = "bouncer"
            }, id: "confirm-2")

        #expect(await harness.waitUntilAcked("email", 2))
        #expect(try await Wait.until(timeout: .seconds(10)) { try await harness.bus.deadLetters(group: "email").count == 1 })
        #expect(emlFiles(outbox) == ["confirm-1.eml", "ship%2F1.eml"])
        let confirmation = try String(contentsOf: outbox.appendingPathComponent("confirm-1.eml"), encoding: .utf8)
        #expect(confirmation.contains("To: u1@customers.example\r\n"))
        #expect(confirmation.contains("Message-ID: <confirm-1@shop.example>\r\n"))
        #expect(confirmation.contains("X-Ferry-Event-ID: confirm-1\r\n"))
        #expect(confirmation.contains("X-Correlation-ID: confirm-1\r\n"))
        #expect(confirmation.contains("Subject: Your order o-1 is confirmed\r\n"))
        let shipping = try String(contentsOf: outbox.appendingPathComponent("ship%2F1.eml"), encoding: .utf8)
        #expect(shipping.contains("Tracking number: TRK-123\r\n"))
        let bounce = try #require(try await harness.bus.deadLetters(group: "email").first)
        #expect(bounce.reason == .rejected)
        #expect(bounce.lastError.contains("recipient bouncer@customers.example bounced"))

        // Every event again: the same files are rewritten, none added.
        try await harness.bus.replay(group: "email", from: .beginning)
        #expect(await harness.waitUntilAcked("email", 4))
        #expect(emlFiles(outbox) == ["confirm-1.eml", "ship%2F1.eml"])
        #expect(try String(contentsOf: outbox.appendingPathComponent("confirm-1.eml"), encoding: .utf8) == confirmation)
        withExtendedLifetime(worker) {}
        await harness.close()
    }

    @Test("while the sender-down file exists sends fail and end in the DLQ; after removing it a requeue writes the email")
    func senderDown() async throws {
        let harness = try await WorkerHarness()
        let outbox = harness.dataDir.appendingPathComponent("outbox")
        let downFile = harness.dataDir.appendingPathComponent("mail-server-down")
        FileManager.default.createFile(atPath: downFile.path, contents: nil)
        let worker = try await harness.start("email-worker", group: "email", ["--sender-down-file", downFile.path, "--max-attempts", "3"])
        try await harness.bus.publish(
            OrderConfirmed.with {
                $0.orderID = "o-9"
                $0.userID = "u9"
            }, id: "confirm-9")

        #expect(try await Wait.until(timeout: .seconds(10)) { try await harness.bus.deadLetters(group: "email").count == 1 })
        let entry = try #require(try await harness.bus.deadLetters(group: "email").first)
        #expect(entry.reason == .maxAttempts && entry.attempts == 3)
        #expect(entry.lastError.contains("mail server unavailable"))
        #expect(emlFiles(outbox).isEmpty)

        try FileManager.default.removeItem(at: downFile)
        #expect(try await harness.bus.requeueDeadLetters(group: "email") == 1)
        #expect(await Wait.until(timeout: .seconds(10)) { emlFiles(outbox) == ["confirm-9.eml"] })
        #expect(try await harness.bus.deadLetters(group: "email").isEmpty)
        withExtendedLifetime(worker) {}
        await harness.close()
    }
}
