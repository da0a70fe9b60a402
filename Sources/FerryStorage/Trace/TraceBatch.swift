/// Records staged for the trace log in the form the broker thread writes cheapest: fixed-size
/// numbers, names as numbers of ``names``, an error text's bytes and a published event's stored
/// bytes, one after another in one buffer. The trace writer encodes them (``TraceCodec``).
///
/// Filled on one thread, then handed whole to ``TraceLog/submit(_:)-(TraceBatch)``: the
/// producer does not touch it afterwards (hence `@unchecked Sendable`).
public final class TraceBatch: @unchecked Sendable {
    /// The table its name numbers refer to.
    public let names: TraceNames
    @exclusivity(unchecked) var buffer: TraceCodec.ByteWriter
    /// Records staged.
    @exclusivity(unchecked) public private(set) var count = 0

    /// What follows a staged record's fixed part and error text.
    enum Payload: UInt8 {
        case none = 0
        /// The event as stored: a 4-byte length and the bytes.
        case envelope = 1
        /// The event's fields: five times a 4-byte length and the UTF-8.
        case fields = 2
    }

    /// The fixed part of a staged record: kind, payload, topic, time, offset, group, actor,
    /// attempt, error text length, number (see ``append(_:timeMicros:topic:offset:group:actor:attempt:number:detail:)``).
    static let headerSize = 48

    /// Bytes staged: what the records take while they wait for the writer.
    public var byteCount: Int { buffer.count }

    public init(names: TraceNames, capacity: Int = 4096) {
        self.names = names
        buffer = TraceCodec.ByteWriter(capacity: capacity)
    }

    deinit { buffer.free() }

    /// Stages a record; `detail` is cut to ``TraceCodec/maxDetailBytes``.
    @inline(__always)
    public func append(
        _ kind: TraceRecord.Kind, timeMicros: Int64, topic: UInt32, offset: UInt64, group: UInt32 = 0, actor: UInt32 = 0,
        attempt: UInt32 = 0, number: Int64 = 0, detail: String = ""
    ) {
        if detail.isEmpty {
            appendHeader(kind, .none, timeMicros, topic, offset, group, actor, attempt, number, detail: UnsafeRawBufferPointer(start: nil, count: 0))
            return
        }
        var detail = detail
        detail.withUTF8 { utf8 in
            let cut = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8).prefix(TraceCodec.maxDetailBytes))
            appendHeader(kind, .none, timeMicros, topic, offset, group, actor, attempt, number, detail: cut)
        }
    }

    /// Stages a `published` record whose fields the writer reads from the event as stored.
    @inline(__always)
    public func appendPublished(timeMicros: Int64, topic: UInt32, offset: UInt64, publisher: UInt32, envelope: UnsafeRawBufferPointer) {
        appendHeader(.published, .envelope, timeMicros, topic, offset, 0, publisher, 0, 0, detail: UnsafeRawBufferPointer(start: nil, count: 0))
        appendBytes(envelope)
    }

    /// Stages a `published` record with its event's fields (each cut to ``TraceCodec/maxFieldBytes``).
    public func appendPublished(timeMicros: Int64, topic: UInt32, offset: UInt64, publisher: UInt32, fields: TraceRecord.EventFields) {
        appendHeader(.published, .fields, timeMicros, topic, offset, 0, publisher, 0, 0, detail: UnsafeRawBufferPointer(start: nil, count: 0))
        for field in [fields.eventID, fields.key, fields.correlationID, fields.causationID, fields.type] {
            var field = field
            field.withUTF8 { appendBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0).prefix(TraceCodec.maxFieldBytes))) }
        }
    }

    /// Stages `record`, numbering its names in `table` (which must be the one of ``names``).
    public func append(_ record: TraceRecord, numberingIn table: inout TraceNameTable) {
        let topic = table.number(of: record.topic)
        let actor = table.number(of: record.actor)
        if record.kind == .published, let envelope = record.envelope {
            envelope.withUnsafeBytes { appendPublished(timeMicros: record.timeMicros, topic: topic, offset: record.offset, publisher: actor, envelope: $0) }
        } else if record.kind == .published {
            appendPublished(
                timeMicros: record.timeMicros, topic: topic, offset: record.offset, publisher: actor, fields: record.event ?? .init())
        } else {
            append(
                record.kind, timeMicros: record.timeMicros, topic: topic, offset: record.offset, group: table.number(of: record.group),
                actor: actor, attempt: record.attempt, number: record.number, detail: record.detail)
        }
    }

    @inline(__always)
    private func appendHeader(
        _ kind: TraceRecord.Kind, _ payload: Payload, _ time: Int64, _ topic: UInt32, _ offset: UInt64, _ group: UInt32, _ actor: UInt32,
        _ attempt: UInt32, _ number: Int64, detail: UnsafeRawBufferPointer
    ) {
        buffer.reserve(Self.headerSize + detail.count)
        buffer.withUnsafeTail { tail in
            tail.storeBytes(of: kind.rawValue, toByteOffset: 0, as: UInt8.self)
            tail.storeBytes(of: payload.rawValue, toByteOffset: 1, as: UInt8.self)
            tail.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
            tail.storeBytes(of: topic, toByteOffset: 4, as: UInt32.self)
            tail.storeBytes(of: time, toByteOffset: 8, as: Int64.self)
            tail.storeBytes(of: offset, toByteOffset: 16, as: UInt64.self)
            tail.storeBytes(of: group, toByteOffset: 24, as: UInt32.self)
            tail.storeBytes(of: actor, toByteOffset: 28, as: UInt32.self)
            tail.storeBytes(of: attempt, toByteOffset: 32, as: UInt32.self)
            tail.storeBytes(of: UInt32(detail.count), toByteOffset: 36, as: UInt32.self)
            tail.storeBytes(of: number, toByteOffset: 40, as: Int64.self)
            if let source = detail.baseAddress, detail.count > 0 {
                (tail + Self.headerSize).copyMemory(from: source, byteCount: detail.count)
            }
        }
        buffer.advance(by: Self.headerSize + detail.count)
        count += 1
    }

    /// A 4-byte length and the bytes.
    @inline(__always)
    private func appendBytes(_ bytes: UnsafeRawBufferPointer) {
        buffer.reserve(4 + bytes.count)
        buffer.withUnsafeTail { tail in
            tail.storeBytes(of: UInt32(bytes.count), toByteOffset: 0, as: UInt32.self)
            if let source = bytes.baseAddress, bytes.count > 0 { (tail + 4).copyMemory(from: source, byteCount: bytes.count) }
        }
        buffer.advance(by: 4 + bytes.count)
    }
}

extension TraceBatch {
    /// One staged record as the writer reads it.
    struct Staged {
        var kind: TraceRecord.Kind
        var payload: Payload
        var topic: UInt32
        var timeMicros: Int64
        var offset: UInt64
        var group: UInt32
        var actor: UInt32
        var attempt: UInt32
        var number: Int64
        var detail: UnsafeRawBufferPointer
        /// The envelope (``Payload/envelope``) or the five fields one after another, each
        /// after its 4-byte length (``Payload/fields``).
        var payloadBytes: UnsafeRawBufferPointer
    }

    /// Reads the record staged at `position` of `bytes` (written by this type, so trusted) and
    /// returns it with the position of the next one.
    static func read(_ bytes: UnsafeRawBufferPointer, at position: Int) -> (Staged, next: Int) {
        let base = bytes.baseAddress! + position
        let detailCount = Int(base.loadUnaligned(fromByteOffset: 36, as: UInt32.self))
        let payload = Payload(rawValue: base.load(fromByteOffset: 1, as: UInt8.self)) ?? .none
        var next = position + headerSize + detailCount
        var payloadBytes = UnsafeRawBufferPointer(start: nil, count: 0)
        switch payload {
        case .none: break
        case .envelope:
            let length = Int((bytes.baseAddress! + next).loadUnaligned(as: UInt32.self))
            payloadBytes = UnsafeRawBufferPointer(start: bytes.baseAddress! + next + 4, count: length)
            next += 4 + length
        case .fields:
            let start = next
            for _ in 0..<5 { next += 4 + Int((bytes.baseAddress! + next).loadUnaligned(as: UInt32.self)) }
            payloadBytes = UnsafeRawBufferPointer(start: bytes.baseAddress! + start, count: next - start)
        }
        let staged = Staged(
            kind: TraceRecord.Kind(rawValue: base.load(as: UInt8.self)) ?? .published, payload: payload,
            topic: base.loadUnaligned(fromByteOffset: 4, as: UInt32.self), timeMicros: base.loadUnaligned(fromByteOffset: 8, as: Int64.self),
            offset: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self), group: base.loadUnaligned(fromByteOffset: 24, as: UInt32.self),
            actor: base.loadUnaligned(fromByteOffset: 28, as: UInt32.self), attempt: base.loadUnaligned(fromByteOffset: 32, as: UInt32.self),
            number: base.loadUnaligned(fromByteOffset: 40, as: Int64.self),
            detail: UnsafeRawBufferPointer(start: base + headerSize, count: detailCount), payloadBytes: payloadBytes)
        return (staged, next)
    }
}
