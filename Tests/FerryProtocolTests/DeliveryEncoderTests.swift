import FerryProtocol
import Foundation
import Testing

@Suite("DeliveryEncoder")
struct DeliveryEncoderTests {
    /// One delivery's inputs, as the broker would pass them.
    struct Input {
        var subscriptionID: UInt32
        var deliveryID: UInt64
        var attempt: UInt32
        var offset: UInt64
        var event: WireEvent
        var lastError: String

        /// What the generated code should decode the encoder's bytes into.
        var expected: Delivery {
            var delivery = Delivery()
            delivery.subscriptionID = subscriptionID
            delivery.deliveryID = deliveryID
            delivery.attempt = attempt
            delivery.offset = offset
            delivery.event = event
            delivery.lastError = lastError
            return delivery
        }
    }

    static func decode(_ frame: [UInt8]) throws -> ServerMessage {
        try frame.withUnsafeBytes { try WireFormat.decode(ServerMessage.self, from: $0) }
    }

    static func encode(_ inputs: [Input]) -> [UInt8] {
        var encoder = DeliveryEncoder()
        for input in inputs {
            encoder.append(
                subscriptionID: input.subscriptionID, deliveryID: input.deliveryID, attempt: input.attempt,
                offset: input.offset, event: WireFormat.encode(input.event), lastError: input.lastError)
        }
        return encoder.finish()
    }

    static func simpleEvent(_ id: String) -> WireEvent {
        var event = WireEvent()
        event.topic = "orders.created"
        event.id = id
        event.payload = Data(id.utf8)
        return event
    }

    static var fullEvent: WireEvent {
        var event = WireEvent()
        event.topic = "orders.created.eu"
        event.id = "order-1234"
        event.key = "customer-9"
        event.headers = ["trace-id": "abc123", "tenant": "acme", "empty": "", "unicode": "Grüße 🚢"]
        event.contentType = "application/json"
        event.payload = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        event.type = "OrderCreated"
        event.schemaVersion = 3
        event.correlationID = "corr-1"
        event.causationID = "cause-1"
        event.createdAtUs = 1_700_000_000_123_456
        event.storedAtUs = -1
        return event
    }

    @Test("several deliveries round-trip through the generated ServerMessage field by field")
    func roundTrip() throws {
        let inputs = [
            Input(subscriptionID: 0, deliveryID: 0, attempt: 0, offset: 0, event: WireEvent(), lastError: ""),
            Input(subscriptionID: 1, deliveryID: 1, attempt: 1, offset: 0, event: Self.simpleEvent("a"), lastError: ""),
            Input(
                subscriptionID: .max, deliveryID: .max, attempt: .max, offset: .max, event: Self.fullEvent,
                lastError: "handler threw: timeout — Grüße 🚢"),
            Input(subscriptionID: 300, deliveryID: 1 << 35, attempt: 128, offset: 16_384, event: Self.simpleEvent("b"), lastError: "x"),
        ]
        let message = try Self.decode(Self.encode(inputs))
        #expect(message.requestID == 0)
        guard case .deliver(let deliver) = message.reply else {
            Issue.record("expected a Deliver reply, got \(String(describing: message.reply))")
            return
        }
        try #require(deliver.deliveries.count == inputs.count)
        for (delivery, input) in zip(deliver.deliveries, inputs) {
            #expect(delivery.subscriptionID == input.subscriptionID)
            #expect(delivery.deliveryID == input.deliveryID)
            #expect(delivery.attempt == input.attempt)
            #expect(delivery.offset == input.offset)
            #expect(delivery.lastError == input.lastError)
            #expect(delivery.hasEvent)
            #expect(delivery.event == input.event)
            #expect(delivery == input.expected)
        }
        let full = deliver.deliveries[2].event
        #expect(full.headers == ["trace-id": "abc123", "tenant": "acme", "empty": "", "unicode": "Grüße 🚢"])
        #expect(full.payload.count == 100_000)
        #expect(full.payload == Self.fullEvent.payload)
        #expect(full.createdAtUs == 1_700_000_000_123_456)
        #expect(full.storedAtUs == -1)
        #expect(full.schemaVersion == 3)
    }

    @Test("the frame is byte-for-byte what the generated code serializes")
    func byteExact() throws {
        let inputs = [
            Input(subscriptionID: 7, deliveryID: 99, attempt: 2, offset: 12_345, event: Self.simpleEvent("e1"), lastError: "boom"),
            Input(subscriptionID: 0, deliveryID: .max, attempt: 0, offset: 0, event: WireEvent(), lastError: ""),
        ]
        var expected = ServerMessage()
        expected.deliver.deliveries = inputs.map(\.expected)
        #expect(Self.encode(inputs) == WireFormat.encode(expected))
    }

    @Test("count tracks appends, and finish resets the encoder for the next frame")
    func reuse() throws {
        var encoder = DeliveryEncoder()
        #expect(encoder.count == 0)
        for index in 0..<3 {
            encoder.append(
                subscriptionID: 1, deliveryID: UInt64(index + 1), attempt: 1, offset: UInt64(index),
                event: WireFormat.encode(Self.simpleEvent("first-\(index)")), lastError: "")
        }
        #expect(encoder.count == 3)
        let first = try Self.decode(encoder.finish())
        #expect(encoder.count == 0)
        #expect(first.deliver.deliveries.map(\.deliveryID) == [1, 2, 3])
        #expect(first.deliver.deliveries.map(\.event.id) == ["first-0", "first-1", "first-2"])

        encoder.append(
            subscriptionID: 2, deliveryID: 4, attempt: 3, offset: 9, event: WireFormat.encode(Self.simpleEvent("second")),
            lastError: "again")
        #expect(encoder.count == 1)
        let second = try Self.decode(encoder.finish())
        #expect(second.deliver.deliveries.count == 1, "a finished frame must not leak into the next")
        #expect(second.deliver.deliveries.first?.event.id == "second")
        #expect(second.deliver.deliveries.first?.lastError == "again")
        #expect(second.deliver.deliveries.first?.attempt == 3)
    }

    @Test("a large batch keeps its order")
    func largeBatch() throws {
        var inputs: [Input] = []
        for index in 0..<500 {
            let lastError = index % 2 == 0 ? "" : "err \(index)"
            inputs.append(
                Input(
                    subscriptionID: UInt32(index % 3), deliveryID: UInt64(index) * 1_000_003, attempt: UInt32(index % 5 + 1),
                    offset: UInt64(index), event: Self.simpleEvent("e\(index)"), lastError: lastError))
        }
        let deliveries = try Self.decode(Self.encode(inputs)).deliver.deliveries
        let expected: [Delivery] = inputs.map { $0.expected }
        #expect(deliveries.count == 500)
        #expect(deliveries == expected)
    }

    @Test("finishing with nothing appended gives an empty Deliver")
    func empty() throws {
        var encoder = DeliveryEncoder()
        let message = try Self.decode(encoder.finish())
        #expect(message.deliver.deliveries.isEmpty)
        #expect(message.requestID == 0)
    }
}
