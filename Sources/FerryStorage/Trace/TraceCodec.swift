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

    /// Appends the encoded batch of `records`' first ones to `bytes`: at most `maxRecords`, and
    /// no more once they take `maxBytes`. Returns the index after the last one encoded. A
    /// `published` record handed over with its envelope gets its event's fields from it, where
    /// `readEnvelope` says they are.
    @discardableResult
    static func encode(
        _ records: ArraySlice<TraceRecord>, into bytes: inout [UInt8], maxRecords: Int = .max, maxBytes: Int = .max,
        readEnvelope: (UnsafeRawBufferPointer) -> TraceRecord.EnvelopeLayout = { _ in TraceRecord.EnvelopeLayout() }
    ) -> Int {
        var names = NameTable()
        // Most records repeat the topic, group and member of the one before: one cached name
        // per field finds those without hashing.
        var topics: NameTable.Recent = nil
        var groups: NameTable.Recent = nil
        var actors: NameTable.Recent = nil
        var body = ByteWriter(capacity: records.count * 32 + 64)
        defer { body.free() }
        let base = records.first?.timeMicros ?? 0
        var end = records.startIndex
        for record in records {
            if end - records.startIndex >= maxRecords || body.count >= maxBytes { break }
            end += 1
            // The fixed part: a kind byte and seven varints of at most 10 bytes.
            body.reserve(71)
            body.appendUnchecked(record.kind.rawValue)
            body.appendVarintUnchecked(zigzag(record.timeMicros &- base))
            body.appendVarintUnchecked(names.index(of: record.topic, recent: &topics))
            body.appendVarintUnchecked(record.offset)
            body.appendVarintUnchecked(names.index(of: record.group, recent: &groups))
            body.appendVarintUnchecked(names.index(of: record.actor, recent: &actors))
            body.appendVarintUnchecked(UInt64(record.attempt))
            body.appendVarintUnchecked(zigzag(record.number))
            body.append(record.detail, maxBytes: maxDetailBytes)
            if record.kind == .published, let envelope = record.envelope {
                envelope.withUnsafeBytes { stored in
                    let layout = readEnvelope(stored)
                    for range in [layout.eventID, layout.key, layout.correlationID, layout.causationID, layout.type] {
                        let field = UnsafeRawBufferPointer(rebasing: stored[range.clamped(to: 0..<stored.count)])
                        body.append(UnsafeRawBufferPointer(rebasing: field.prefix(maxFieldBytes)))
                    }
                }
            } else if record.kind == .published, let event = record.event {
                body.append(event.eventID, maxBytes: maxFieldBytes)
                body.append(event.key, maxBytes: maxFieldBytes)
                body.append(event.correlationID, maxBytes: maxFieldBytes)
                body.append(event.causationID, maxBytes: maxFieldBytes)
                body.append(event.type, maxBytes: maxFieldBytes)
            } else if record.kind == .published {
                body.reserve(5)
                for _ in 0..<5 { body.appendUnchecked(0) }
            }
        }
        bytes.append(version)
        appendVarint(zigzag(base), to: &bytes)
        appendVarint(UInt64(names.table.count), to: &bytes)
        for name in names.table { appendString(name, to: &bytes) }
        appendVarint(UInt64(end - records.startIndex), to: &bytes)
        bytes.append(contentsOf: body.bytes)
        return end
    }

    /// A growable byte buffer written without Array's per-append checks: the writer thread
    /// encodes a million records a second at saturation.
    struct ByteWriter {
        private var base: UnsafeMutableRawPointer
        private var capacity: Int
        private(set) var count = 0

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 1)
        }

        var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

        func free() { base.deallocate() }

        /// Makes room for `more` bytes.
        mutating func reserve(_ more: Int) {
            guard count + more > capacity else { return }
            let grown = max(capacity * 2, count + more)
            let moved = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 1)
            moved.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = moved
            capacity = grown
        }

        mutating func appendUnchecked(_ byte: UInt8) {
            base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
            count += 1
        }

        mutating func appendVarintUnchecked(_ value: UInt64) {
            var value = value
            while value >= 0x80 {
                appendUnchecked(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            appendUnchecked(UInt8(value))
        }

        /// Length-prefixed bytes.
        mutating func append(_ utf8: UnsafeRawBufferPointer) {
            reserve(10 + utf8.count)
            appendVarintUnchecked(UInt64(utf8.count))
            if let source = utf8.baseAddress, utf8.count > 0 {
                (base + count).copyMemory(from: source, byteCount: utf8.count)
                count += utf8.count
            }
        }

        /// A length-prefixed UTF-8 string, cut to `maxBytes` (the reader repairs a cut
        /// character).
        mutating func append(_ text: String, maxBytes: Int = .max) {
            var text = text
            text.withUTF8 { utf8 in append(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8).prefix(maxBytes))) }
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

    /// The names of one batch, each stored once, and their indexes.
    private struct NameTable {
        typealias Recent = (name: String, index: UInt64)?
        var indexes: [String: UInt64] = [:]
        var table: [String] = []

        mutating func index(of name: String, recent: inout Recent) -> UInt64 {
            if let hit = recent, hit.name == name { return hit.index }
            let index: UInt64
            if let known = indexes[name] {
                index = known
            } else {
                index = UInt64(table.count)
                indexes[name] = index
                table.append(name)
            }
            recent = (name, index)
            return index
        }
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
