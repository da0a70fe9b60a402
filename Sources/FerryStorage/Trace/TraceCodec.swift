/// The trace log's encoding of a batch of records: the content of one CRC frame.
///
/// A batch starts with its base time and a table of the names its records use (topics, groups,
/// members, publishers), so that a record repeats none of them; then the records, as varints
/// and length-prefixed UTF-8. Version byte first, so that the format can change.
enum TraceCodec {
    static let version: UInt8 = 1

    /// The longest `detail` kept (an error text), and the longest event field (id, key, type,
    /// chain ids): longer ones are cut, so that a record is bounded whatever a client sent.
    static let maxDetailBytes = 4096
    static let maxFieldBytes = 1024

    /// Appends the encoding of `batch`'s records from `position` on (the first of them being
    /// record `record` of the batch) to `bytes`: at most `maxRecords`, and no more once they take
    /// `maxBytes`. Returns the position and the record after the last one encoded. A `published`
    /// record staged with its envelope gets its event's fields from it, where `readEnvelope` says
    /// they are. `names` resolves the batch's name numbers (the writer keeps it across batches).
    static func encode(
        _ batch: TraceBatch, from position: Int, record first: Int, names: inout NameResolver, into bytes: inout [UInt8],
        maxRecords: Int = .max, maxBytes: Int = .max,
        readEnvelope: (UnsafeRawBufferPointer) -> TraceRecord.EnvelopeLayout = { _ in TraceRecord.EnvelopeLayout() }
    ) -> (position: Int, record: Int) {
        names.startFrame(of: batch.names)
        var body = ByteWriter(capacity: min(batch.byteCount - position, maxBytes) / 2 + 64)
        defer { body.free() }
        var position = position
        var end = first
        let stagedBytes = batch.buffer.bytes
        let base = position < stagedBytes.count ? TraceBatch.read(stagedBytes, at: position).0.timeMicros : 0
        while end < batch.count, end - first < maxRecords, body.count < maxBytes {
            let (record, next) = TraceBatch.read(stagedBytes, at: position)
            position = next
            end += 1
            // The fixed part: a kind byte and seven varints of at most 10 bytes.
            body.reserve(71)
            body.appendUnchecked(record.kind.rawValue)
            body.appendVarintUnchecked(zigzag(record.timeMicros &- base))
            body.appendVarintUnchecked(names.index(of: record.topic))
            body.appendVarintUnchecked(record.offset)
            body.appendVarintUnchecked(names.index(of: record.group))
            body.appendVarintUnchecked(names.index(of: record.actor))
            body.appendVarintUnchecked(UInt64(record.attempt))
            body.appendVarintUnchecked(zigzag(record.number))
            body.append(record.detail)
            guard record.kind == .published else { continue }
            switch record.payload {
            case .envelope:
                let stored = record.payloadBytes
                let layout = readEnvelope(stored)
                for range in [layout.eventID, layout.key, layout.correlationID, layout.causationID, layout.type] {
                    let field = UnsafeRawBufferPointer(rebasing: stored[range.clamped(to: 0..<stored.count)])
                    body.append(UnsafeRawBufferPointer(rebasing: field.prefix(maxFieldBytes)))
                }
            case .fields:
                // Five times a 4-byte length and the bytes, cut when staged.
                var at = 0
                let fields = record.payloadBytes
                for _ in 0..<5 {
                    let length = Int(fields.loadUnaligned(fromByteOffset: at, as: UInt32.self))
                    body.append(UnsafeRawBufferPointer(rebasing: fields[(at + 4)..<(at + 4 + length)]))
                    at += 4 + length
                }
            case .none:
                body.reserve(5)
                for _ in 0..<5 { body.appendUnchecked(0) }
            }
        }
        bytes.append(version)
        appendVarint(zigzag(base), to: &bytes)
        appendVarint(UInt64(names.table.count), to: &bytes)
        for name in names.table { appendString(name, to: &bytes) }
        appendVarint(UInt64(end - first), to: &bytes)
        bytes.append(contentsOf: body.bytes)
        return (position, end)
    }

    /// The writer's view of the names batches number: its copy of each ``TraceNames`` it met
    /// (caught up when a batch uses a number it has not seen), and the table of the frame being
    /// encoded, in which each name is stored once.
    struct NameResolver {
        private var source: TraceNames?
        private var known: [String] = []
        /// Per number: its index in the frame's table, valid when its stamp is the frame's.
        private var frameIndex: [UInt32] = []
        private var stamps: [UInt32] = []
        private var stamp: UInt32 = 0
        private(set) var table: [String] = []

        /// Starts the table of a new frame of a batch numbered by `names`.
        mutating func startFrame(of names: TraceNames) {
            if source !== names {
                source = names
                known.removeAll(keepingCapacity: true)
                names.copy(into: &known)
                stamps = Array(repeating: 0, count: stamps.count)
            }
            table.removeAll(keepingCapacity: true)
            stamp &+= 1
            if stamp == 0 {
                stamps = Array(repeating: 0, count: stamps.count)
                stamp = 1
            }
        }

        /// The index in the frame's table of the name numbered `number`.
        @inline(__always)
        mutating func index(of number: UInt32) -> UInt64 {
            let number = Int(number)
            if number < stamps.count, stamps[number] == stamp { return UInt64(frameIndex[number]) }
            return add(number)
        }

        private mutating func add(_ number: Int) -> UInt64 {
            if number >= known.count { source?.copy(into: &known) }
            if number >= stamps.count {
                let grown = max(number + 1, stamps.count * 2, 64)
                stamps.append(contentsOf: repeatElement(0, count: grown - stamps.count))
                frameIndex.append(contentsOf: repeatElement(0, count: grown - frameIndex.count))
            }
            stamps[number] = stamp
            frameIndex[number] = UInt32(table.count)
            // A number nobody gave out cannot be staged; an empty name is what a reader copes with.
            table.append(number < known.count ? known[number] : "")
            return UInt64(table.count - 1)
        }
    }

    /// Calls `body` with each record of a batch, in order; false when the batch does not decode.
    static func decode(_ bytes: UnsafeRawBufferPointer, _ body: (TraceRecord) -> Void) -> Bool {
        var reader = Reader(bytes: bytes)
        guard reader.byte() == version, let base = reader.varint().map(unzigzag), let nameCount = reader.varint(),
            nameCount <= UInt64(bytes.count)
        else { return false }
        var table: [String] = []
        table.reserveCapacity(Int(nameCount))
        for _ in 0..<nameCount {
            guard let name = reader.string() else { return false }
            table.append(name)
        }
        guard let count = reader.varint(), count <= UInt64(bytes.count) else { return false }
        for _ in 0..<count {
            guard let raw = reader.byte(), let kind = TraceRecord.Kind(rawValue: raw), let time = reader.varint(),
                let topic = reader.name(in: table), let offset = reader.varint(), let group = reader.name(in: table),
                let actor = reader.name(in: table), let attempt = reader.varint(), let number = reader.varint(),
                let detail = reader.string()
            else { return false }
            var record = TraceRecord(
                kind: kind, timeMicros: base &+ unzigzag(time), topic: topic, offset: offset, group: group, actor: actor,
                attempt: UInt32(truncatingIfNeeded: attempt), number: unzigzag(number), detail: detail)
            if kind == .published {
                guard let id = reader.string(), let key = reader.string(), let correlation = reader.string(),
                    let causation = reader.string(), let type = reader.string()
                else { return false }
                record.event = TraceRecord.EventFields(
                    eventID: id, key: key, correlationID: correlation, causationID: causation, type: type)
            }
            body(record)
        }
        return true
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        mutating func byte() -> UInt8? {
            guard position < bytes.count else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while shift < 64 {
                guard let next = byte() else { return nil }
                value |= UInt64(next & 0x7F) << shift
                if next & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }

        mutating func string() -> String? {
            guard let length = varint(), length <= UInt64(bytes.count - position) else { return nil }
            let start = position
            position += Int(length)
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        }

        mutating func name(in table: [String]) -> String? {
            guard let index = varint(), index < UInt64(table.count) else { return nil }
            return table[Int(index)]
        }
    }

    private static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private static func appendString(_ text: String, to bytes: inout [UInt8]) {
        appendVarint(UInt64(text.utf8.count), to: &bytes)
        bytes.append(contentsOf: text.utf8)
    }

    private static func zigzag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }
    private static func unzigzag(_ value: UInt64) -> Int64 { Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }
}
