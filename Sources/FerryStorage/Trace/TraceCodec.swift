/// The trace log's encoding of a batch of records: the content of one CRC frame.
///
/// A batch starts with its base time and a table of the names its records use (topics, groups,
/// members, publishers), so that a record repeats none of them; then the records, as varints
/// and length-prefixed UTF-8. Version byte first, so that the format can change.
enum TraceCodec {
    static let version: UInt8 = 1

    static func encode(_ records: ArraySlice<TraceRecord>, into bytes: inout [UInt8]) {
        var names: [String: UInt64] = [:]
        var table: [String] = []
        func reference(_ name: String) -> UInt64 {
            if let index = names[name] { return index }
            let index = UInt64(table.count)
            names[name] = index
            table.append(name)
            return index
        }
        var body: [UInt8] = []
        body.reserveCapacity(records.count * 24)
        let base = records.first?.timeMicros ?? 0
        for record in records {
            body.append(record.kind.rawValue)
            appendVarint(zigzag(record.timeMicros &- base), to: &body)
            appendVarint(reference(record.topic), to: &body)
            appendVarint(record.offset, to: &body)
            appendVarint(reference(record.group), to: &body)
            appendVarint(reference(record.actor), to: &body)
            appendVarint(UInt64(record.attempt), to: &body)
            appendVarint(zigzag(record.number), to: &body)
            appendString(record.detail, to: &body)
            if record.kind == .published {
                for text in [record.eventID, record.key, record.correlationID, record.causationID, record.type] {
                    appendString(text, to: &body)
                }
            }
        }
        bytes.append(version)
        appendVarint(zigzag(base), to: &bytes)
        appendVarint(UInt64(table.count), to: &bytes)
        for name in table { appendString(name, to: &bytes) }
        appendVarint(UInt64(records.count), to: &bytes)
        bytes.append(contentsOf: body)
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
                record.eventID = id
                record.key = key
                record.correlationID = correlation
                record.causationID = causation
                record.type = type
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
