import CCRC32C

/// The on-disk framing of one event in a segment:
///
/// ```
/// u32 length      bytes after this field
/// u32 crc32c      of the bytes after this field
/// u64 offset
/// i64 timestamp   microseconds since the Unix epoch
/// u16 key length, key bytes
/// u16 id length,  id bytes
/// body            the serialized envelope, to the end of the record
/// ```
/// All integers little-endian. Key and id are in the header so recovery can rebuild the
/// dedup window and history queries can filter without decoding bodies.
enum LogRecord {
    static let prefixSize = 8
    static let fixedSize = 8 + 8 + 8 + 2 + 2

    static func encode(offset: UInt64, timestamp: Int64, key: String, id: String, body: [UInt8], into buffer: inout [UInt8]) {
        let keyCount = min(key.utf8.count, Int(UInt16.max))
        let idCount = min(id.utf8.count, Int(UInt16.max))
        let length = 4 + 8 + 8 + 2 + keyCount + 2 + idCount + body.count
        let start = buffer.count
        append(UInt32(length), to: &buffer)
        append(UInt32(0), to: &buffer)
        append(offset, to: &buffer)
        append(UInt64(bitPattern: timestamp), to: &buffer)
        append(UInt16(keyCount), to: &buffer)
        buffer.append(contentsOf: key.utf8.prefix(keyCount))
        append(UInt16(idCount), to: &buffer)
        buffer.append(contentsOf: id.utf8.prefix(idCount))
        buffer.append(contentsOf: body)
        let crc = buffer.withUnsafeBytes { raw in
            ferry_crc32c(0, raw.baseAddress! + start + 8, buffer.count - start - 8)
        }
        buffer.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: crc.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
    }

    /// A parsed record header (and where its body sits in the buffer it came from).
    struct Header {
        let size: Int
        let offset: UInt64
        let timestamp: Int64
        let key: String
        let id: String
        let bodyRange: Range<Int>
    }

    enum ParseResult {
        case record(Header)
        /// Not enough bytes for the record: the end of the data, or a torn write.
        case incomplete
        /// The bytes are there but do not form a valid record.
        case corrupt(String)
    }

    /// Parses the record starting at `position` of `bytes`, checking its CRC.
    static func parse(_ bytes: UnsafeRawBufferPointer, at position: Int) -> ParseResult {
        guard bytes.count - position >= prefixSize else { return .incomplete }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
        guard length >= fixedSize - 4, length <= 1 << 30 else { return .corrupt("implausible length \(length)") }
        guard bytes.count - position - 4 >= length else { return .incomplete }
        let storedCRC = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self))
        let crc = ferry_crc32c(0, bytes.baseAddress! + position + 8, length - 4)
        guard crc == storedCRC else { return .corrupt("CRC mismatch") }
        var cursor = position + 8
        let offset = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor, as: UInt64.self))
        let timestamp = Int64(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor + 8, as: UInt64.self)))
        cursor += 16
        let end = position + 4 + length
        let keyLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor, as: UInt16.self)))
        cursor += 2
        guard cursor + keyLength + 2 <= end else { return .corrupt("key overruns the record") }
        let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[cursor..<(cursor + keyLength)]), as: UTF8.self)
        cursor += keyLength
        let idLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor, as: UInt16.self)))
        cursor += 2
        guard cursor + idLength <= end else { return .corrupt("id overruns the record") }
        let id = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[cursor..<(cursor + idLength)]), as: UTF8.self)
        cursor += idLength
        return .record(Header(size: 4 + length, offset: offset, timestamp: timestamp, key: key, id: id, bodyRange: cursor..<end))
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }
}
