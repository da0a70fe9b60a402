import SwiftProtobuf

/// A `ClientMessage` whose command is `Publish`, read in place from its frame: each item's
/// sequence and its event's serialized bytes, with the event fields the broker checks and
/// indexes. The broker stores those bytes as they came, with `stored_at_us` appended (a later
/// occurrence of a scalar field wins), so a published event is never decoded into objects and
/// encoded again.
///
/// ``read(_:)`` takes only frames that SwiftProtobuf reads the same way. It returns nil for any
/// other command and for anything unusual (a repeated command or event field, which protobuf
/// merges; invalid UTF-8; a malformed field): decode those with SwiftProtobuf, which is the
/// reference, and read its canonical re-encoding from ``encode(requestID:publish:)``.
///
/// The buffers point into the frame and are valid only while it is.
public struct PublishFrame {
    public struct Item {
        public var sequence: UInt64 = 0
        /// The serialized `Event`.
        public var event = UnsafeRawBufferPointer(start: nil, count: 0)
        /// UTF-8 bytes of `event.topic`, `event.id` and `event.key`.
        public var topic = UnsafeRawBufferPointer(start: nil, count: 0)
        public var id = UnsafeRawBufferPointer(start: nil, count: 0)
        public var key = UnsafeRawBufferPointer(start: nil, count: 0)
        public var payloadBytes = 0
        /// The event carries a header named ``PublishFrame/principalHeader``, which only the
        /// broker may set.
        public var setsPrincipalHeader = false
        /// When to append it (`deliver_at_us`, wall-clock microseconds) or how long after it is
        /// read (`deliver_after_ms`); both 0 for an event published at once.
        public var deliverAtMicros: UInt64 = 0
        public var deliverAfterMilliseconds: UInt64 = 0

        /// It asks to be appended later rather than now.
        public var asksForSchedule: Bool { deliverAtMicros != 0 || deliverAfterMilliseconds != 0 }
    }

    /// The header in which the broker names the principal that published an event.
    public static let principalHeader = "ferry-principal"
    private static let principalHeaderBytes = Array(principalHeader.utf8)

    public var requestID: UInt64 = 0
    public var items: [Item] = []

    /// The field of `ClientMessage` that holds a `Publish`, and the range of its `command` oneof.
    static let publishField: UInt64 = 11
    static let commandFields: ClosedRange<UInt64> = 10...99

    /// Reads `frame` if it is a `ClientMessage` carrying a `Publish` this reader takes.
    /// Reading stops after `maxItems + 1` items: the caller refuses a Publish with more than
    /// `maxItems` whatever its other items hold, so a frame of millions of tiny items is never
    /// materialized.
    public static func read(_ frame: UnsafeRawBufferPointer, maxItems: Int = .max) -> PublishFrame? {
        var message = PublishFrame()
        var publish: UnsafeRawBufferPointer?
        var reader = ProtoReader(frame)
        while let (field, value) = reader.next() {
            switch (field, value) {
            case (1, .varint(let requestID)): message.requestID = requestID
            case (publishField, .bytes(let bytes)) where publish == nil: publish = bytes
            case (1, _), (commandFields, _): return nil
            default: continue
            }
        }
        guard !reader.malformed, let publish else { return nil }
        var items = ProtoReader(publish)
        while let (field, value) = items.next() {
            switch (field, value) {
            case (1, .bytes(let bytes)):
                guard let item = readItem(bytes) else { return nil }
                message.items.append(item)
                if message.items.count > maxItems { return message }
            case (1, _): return nil
            default: continue
            }
        }
        return items.malformed ? nil : message
    }

    /// The canonical frame of a `Publish` that SwiftProtobuf decoded, which ``read(_:)`` takes.
    public static func encode(requestID: UInt64, publish: Ferry_V1_Publish) -> [UInt8] {
        var message = Ferry_V1_ClientMessage()
        message.requestID = requestID
        message.publish = publish
        return WireFormat.encode(message)
    }

    private static func readItem(_ bytes: UnsafeRawBufferPointer) -> Item? {
        var item = Item()
        var sawEvent = false
        var reader = ProtoReader(bytes)
        while let (field, value) = reader.next() {
            switch (field, value) {
            case (1, .varint(let sequence)): item.sequence = sequence
            case (2, .bytes(let event)) where !sawEvent:
                sawEvent = true
                item.event = event
                guard readEvent(event, into: &item) else { return nil }
            case (3, .varint(let micros)): item.deliverAtMicros = micros
            case (4, .varint(let milliseconds)): item.deliverAfterMilliseconds = milliseconds
            case (1...4, _): return nil
            default: continue
            }
        }
        return reader.malformed ? nil : item
    }

    /// Checks an `Event` the way SwiftProtobuf would and notes the fields the broker needs.
    private static func readEvent(_ bytes: UnsafeRawBufferPointer, into item: inout Item) -> Bool {
        var reader = ProtoReader(bytes)
        while let (field, value) = reader.next() {
            switch (field, value) {
            case (1, .bytes(let text)) where isUTF8(text): item.topic = text
            case (2, .bytes(let text)) where isUTF8(text): item.id = text
            case (3, .bytes(let text)) where isUTF8(text): item.key = text
            case (5, .bytes(let text)), (7, .bytes(let text)), (9, .bytes(let text)), (10, .bytes(let text)):
                guard isUTF8(text) else { return false }
            case (4, .bytes(let entry)): guard isHeader(entry, into: &item) else { return false }
            case (6, .bytes(let payload)): item.payloadBytes = payload.count
            case (8, .varint), (11, .varint), (12, .varint): continue
            case (1...12, _): return false
            default: continue
            }
        }
        return !reader.malformed
    }

    /// A `map<string, string>` entry: key 1 and value 2, both UTF-8.
    private static func isHeader(_ bytes: UnsafeRawBufferPointer, into item: inout Item) -> Bool {
        var reader = ProtoReader(bytes)
        while let (field, value) = reader.next() {
            switch (field, value) {
            case (1, .bytes(let text)):
                guard isUTF8(text) else { return false }
                if text.elementsEqual(principalHeaderBytes) { item.setsPrincipalHeader = true }
            case (2, .bytes(let text)): guard isUTF8(text) else { return false }
            case (1, _), (2, _): return false
            default: continue
            }
        }
        return !reader.malformed
    }

    static func isUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes.allSatisfy({ $0 < 0x80 }) { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }
}

extension PublishFrame.Item {
    /// The bytes to keep for an event appended later: the event as published after `fields`
    /// (as in ``storedEvent(storedAtMicros:adding:)``), without `stored_at_us`, which is set
    /// when it is appended (``appendStoredAt(_:to:)``).
    public func scheduledEvent(adding fields: [UInt8] = []) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(event.count + fields.count + 11)
        body.append(contentsOf: event)
        body.append(contentsOf: fields)
        return body
    }

    /// Appends `stored_at_us` (field 12) to a scheduled event's bytes, making them the stored event.
    public static func appendStoredAt(_ storedAtMicros: Int64, to body: inout [UInt8]) {
        body.append(12 << 3)
        DeliveryEncoder.appendVarint(UInt64(bitPattern: storedAtMicros), to: &body)
    }

    /// The bytes to store: the event as published with `stored_at_us` (field 12) appended,
    /// after `fields` (encoded fields the broker adds, such as the principal's header).
    public func storedEvent(storedAtMicros: Int64, adding fields: [UInt8] = []) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(event.count + fields.count + 11)
        body.append(contentsOf: event)
        body.append(contentsOf: fields)
        body.append(12 << 3)
        DeliveryEncoder.appendVarint(UInt64(bitPattern: storedAtMicros), to: &body)
        return body
    }
}
