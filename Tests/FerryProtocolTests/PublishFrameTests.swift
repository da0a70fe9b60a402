import FerryProtocol
import Foundation
import SwiftProtobuf
import Testing

/// The in-place Publish reader agrees with SwiftProtobuf on every frame it takes, and leaves
/// to SwiftProtobuf every frame it cannot read the same way.
@Suite("PublishFrame")
struct PublishFrameTests {
    static func event(topic: String = "orders.created", id: String, key: String = "", payload: [UInt8] = [1, 2, 3]) -> WireEvent {
        var event = WireEvent()
        event.topic = topic
        event.id = id
        event.key = key
        event.payload = Data(payload)
        event.headers = ["trace": "abc", "ünï": "cödé"]
        event.contentType = "application/json"
        event.type = "OrderCreated"
        event.schemaVersion = 2
        event.createdAtUs = -5
        return event
    }

    static func frame(requestID: UInt64 = 7, _ events: [WireEvent]) -> [UInt8] {
        var publish = Publish()
        publish.items = events.enumerated().map { index, event in
            var item = PublishItem()
            item.sequence = UInt64(index + 1)
            item.event = event
            return item
        }
        return PublishFrame.encode(requestID: requestID, publish: publish)
    }

    @Test("reads each item's sequence, fields and event bytes as SwiftProtobuf does")
    func readsCanonicalFrames() throws {
        let events = [
            Self.event(id: "a", key: "order-42"), Self.event(topic: "t", id: String(repeating: "x", count: 300), payload: []),
        ]
        let bytes = Self.frame(events)
        try bytes.withUnsafeBytes { raw in
            let frame = try #require(PublishFrame.read(raw))
            #expect(frame.requestID == 7)
            #expect(frame.items.count == 2)
            for (item, event) in zip(frame.items, events) {
                #expect(String(decoding: item.topic, as: UTF8.self) == event.topic)
                #expect(String(decoding: item.id, as: UTF8.self) == event.id)
                #expect(String(decoding: item.key, as: UTF8.self) == event.key)
                #expect(item.payloadBytes == event.payload.count)
                // Stored as published, with stored_at_us set (and nothing else changed).
                let stored = try WireEvent(serializedBytes: item.storedEvent(storedAtMicros: 1_234))
                var expected = event
                expected.storedAtUs = 1_234
                #expect(stored == expected)
            }
        }
    }

    @Test("reads deliver_at_us and deliver_after_ms; a scheduled event's bytes get stored_at_us when appended")
    func readsSchedule() throws {
        var publish = Publish()
        var later = PublishItem()
        later.sequence = 1
        later.event = Self.event(id: "at")
        later.deliverAtUs = 1_800_000_000_000_000
        var after = PublishItem()
        after.sequence = 2
        after.event = Self.event(id: "after")
        after.deliverAfterMs = 30_000
        var now = PublishItem()
        now.sequence = 3
        now.event = Self.event(id: "now")
        publish.items = [later, after, now]
        let bytes = PublishFrame.encode(requestID: 1, publish: publish)
        try bytes.withUnsafeBytes { buffer in
            let frame = try #require(PublishFrame.read(buffer))
            #expect(frame.items.map(\.deliverAtMicros) == [1_800_000_000_000_000, 0, 0])
            #expect(frame.items.map(\.deliverAfterMilliseconds) == [0, 30_000, 0])
            #expect(frame.items.map(\.asksForSchedule) == [true, true, false])
            var body = frame.items[0].scheduledEvent()
            PublishFrame.Item.appendStoredAt(99, to: &body)
            let stored = try WireEvent(serializedBytes: body)
            #expect(stored.id == "at")
            #expect(stored.storedAtUs == 99)
        }
        // A deliver_at_us sent as bytes is not what SwiftProtobuf reads as the field: left to it.
        let odd: [UInt8] = [0x08, 0x01, 0x5A, 0x0B, 0x0A, 0x09, 0x08, 0x01, 0x12, 0x00, 0x1A, 0x03, 0x61, 0x62, 0x63]
        odd.withUnsafeBytes { buffer in #expect(PublishFrame.read(buffer) == nil) }
    }

    @Test("a stored_at_us sent by the publisher is overridden by the broker's")
    func storedAtOverrides() throws {
        var event = Self.event(id: "a")
        event.storedAtUs = 99
        try Self.frame([event]).withUnsafeBytes { raw in
            let item = try #require(PublishFrame.read(raw)?.items.first)
            #expect(try WireEvent(serializedBytes: item.storedEvent(storedAtMicros: 5)).storedAtUs == 5)
        }
    }

    @Test("other commands and frames SwiftProtobuf would read differently are left to it")
    func declinesWhatItCannotReadTheSameWay() throws {
        var settle = ClientMessage()
        settle.settle.acks = [1, 2]
        var cases: [(String, [UInt8])] = [("settle", WireFormat.encode(settle))]

        // Publish twice in one message: protobuf merges the two.
        let one = Self.frame([Self.event(id: "a")])
        cases.append(("publish field twice", one + Array(one.drop(while: { $0 != 11 << 3 | 2 }))))
        // An event whose topic is not UTF-8: SwiftProtobuf rejects it.
        var bad = Self.frame([Self.event(topic: "abc", id: "a")])
        let topicAt = try #require(Self.find([0x61, 0x62, 0x63], in: bad))
        bad[topicAt] = 0xFF
        cases.append(("invalid UTF-8 topic", bad))
        var badHeader = Self.frame([Self.event(id: "a")])
        let headerAt = try #require(Self.find(Array("trace".utf8), in: badHeader))
        badHeader[headerAt] = 0xC0
        cases.append(("invalid UTF-8 header", badHeader))
        // Truncated in the middle of an item.
        cases.append(("truncated", Array(one.dropLast(3))))

        for (name, bytes) in cases {
            bytes.withUnsafeBytes { raw in #expect(PublishFrame.read(raw) == nil, "\(name)") }
        }
        // SwiftProtobuf's own verdicts on the same frames.
        #expect(throws: (any Error).self) { try bad.withUnsafeBytes { try WireFormat.decode(ClientMessage.self, from: $0) } }
        #expect(throws: (any Error).self) { try badHeader.withUnsafeBytes { try WireFormat.decode(ClientMessage.self, from: $0) } }
    }

    @Test("a field number past 2^29 (a tag past 32 bits) is malformed, as SwiftProtobuf reads it")
    func tagsPast32Bits() throws {
        // ClientMessage{request_id 9, publish{items [{sequence 1, event}]}}, every length below 128.
        func frame(_ eventBytes: [UInt8]) -> [UInt8] {
            let item: [UInt8] = [0x08, 0x01, 0x12, UInt8(eventBytes.count)] + eventBytes
            let publish: [UInt8] = [0x0A, UInt8(item.count)] + item
            return [0x08, 0x09, 0x5A, UInt8(publish.count)] + publish
        }
        let plain = try Self.event(id: "a").serializedBytes() as [UInt8]
        frame(plain).withUnsafeBytes { raw in #expect(PublishFrame.read(raw)?.items.count == 1) }
        // The same event with one extra varint field numbered 2^30: its tag needs 33 bits.
        var eventBytes = plain
        DeliveryEncoder.appendVarint(UInt64(1) << 33, to: &eventBytes)
        eventBytes.append(1)
        let frame = frame(eventBytes)
        frame.withUnsafeBytes { raw in #expect(PublishFrame.read(raw) == nil) }
        #expect(throws: (any Error).self) { try frame.withUnsafeBytes { try WireFormat.decode(ClientMessage.self, from: $0) } }
    }

    @Test("unknown fields are skipped, and kept in the stored event")
    func unknownFields() throws {
        // Field 40 (varint 1) and field 41 (a group holding a varint), unknown to this version.
        let unknown: [UInt8] = [0xC0, 0x02, 0x01, 0xCB, 0x02, 0x08, 0x05, 0xCC, 0x02]
        let event = try WireEvent(serializedBytes: WireFormat.encode(Self.event(id: "a")) + unknown)
        #expect(!event.unknownFields.data.isEmpty)
        try Self.frame([event]).withUnsafeBytes { raw in
            let item = try #require(PublishFrame.read(raw)?.items.first)
            #expect(String(decoding: item.id, as: UTF8.self) == "a")
            let stored = try WireEvent(serializedBytes: item.storedEvent(storedAtMicros: 1))
            #expect(stored.unknownFields == event.unknownFields)
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        haystack.indices.first { haystack[$0...].starts(with: needle) }
    }
}
