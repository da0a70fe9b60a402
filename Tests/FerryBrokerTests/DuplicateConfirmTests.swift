import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// A republished id is confirmed with the original's offset, but never before the original is
/// as durable as its fsync policy promises. Synchronous, on a thread of its own: the raw socket
/// stays on one thread.
@Suite("Duplicate publishes wait for the original's durability")
struct DuplicateConfirmTests {
    @Test("with fsync always, the repeat's confirm never overtakes the original's")
    func repeatWaitsForOriginal() async throws {
        let ferryd = try await Ferryd(["--fsync", "always"])
        try await onOwnThread { try Self.repeats(ferryd.endpoint) }
    }

    private static func repeats(_ endpoint: String) throws {
        let client = try RawClient(endpoint: endpoint)
        for round in 0..<20 {
            var event = WireEvent()
            event.topic = "durable.repeats"
            event.id = "event-\(round)"
            event.payload = Data(repeating: 7, count: 64)
            var item = PublishItem()
            item.sequence = 1
            item.event = event
            var publish = Publish()
            publish.items = [item]
            // The original, then at once its repeat: the broker sees the repeat while the
            // original's fsync is still running.
            let original = try client.send(.publish(publish))
            let repeated = try client.send(.publish(publish))
            var order: [UInt64] = []
            var offsets: [UInt64] = []
            while order.count < 2 {
                let reply = try #require(try client.receive())
                guard case .publishResult(let result) = reply.reply else { continue }
                order.append(reply.requestID)
                offsets += result.offsets
            }
            #expect(order == [original, repeated], "round \(round): the repeat was confirmed first")
            #expect(offsets.count == 2 && offsets[0] == offsets[1])
        }
    }
}
