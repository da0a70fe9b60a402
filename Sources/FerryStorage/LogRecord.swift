/// The on-disk framing of one event in a segment (a ``CRCFrame``):
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

    /// Bytes the record of an event with these parts takes.
    static func size(keyBytes: Int, idBytes: Int, bodyBytes: Int) -> Int {
        prefixSize + 8 + 8 + 2 + min(keyBytes, Int(UInt16.max)) + 2 + min(idBytes, Int(UInt16.max)) + bodyBytes
    }

    /// Writes the record at `destination`, which has room for ``size(keyBytes:idBytes:bodyBytes:)``
    /// bytes; returns the bytes written.
    static func encode(
        offset: UInt64, timestamp: Int64, key: String, id: String, body: [UInt8], at destination: UnsafeMutableRawPointer
    ) -> Int {
        var key = key
        var id = id
        destination.storeBytes(of: offset.littleEndian, toByteOffset: prefixSize, as: UInt64.self)
        destination.storeBytes(of: UInt64(bitPattern: timestamp).littleEndian, toByteOffset: prefixSize + 8, as: UInt64.self)
        var cursor = prefixSize + 16
        cursor += key.withUTF8 { writeShortField($0, at: destination + cursor) }
        cursor += id.withUTF8 { writeShortField($0, at: destination + cursor) }
        body.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { (destination + cursor).copyMemory(from: base, byteCount: bytes.count) }
        }
        cursor += body.count
        CRCFrame.seal(destination, frameSize: cursor)
        return cursor
    }

    /// A u16 length and up to 65 535 bytes; returns the bytes written.
    private static func writeShortField(_ bytes: UnsafeBufferPointer<UInt8>, at destination: UnsafeMutableRawPointer) -> Int {
        let count = min(bytes.count, Int(UInt16.max))
        destination.storeBytes(of: UInt16(count).littleEndian, as: UInt16.self)
        if let base = bytes.baseAddress, count > 0 { (destination + 2).copyMemory(from: base, byteCount: count) }
        return 2 + count
    }

    /// A parsed record header, and where its key, id and body sit in the buffer it came from.
    /// Key and id stay bytes until asked for: recovery and most scans need neither.
    struct Header {
        let size: Int
        let offset: UInt64
        let timestamp: Int64
        let keyRange: Range<Int>
        let idRange: Range<Int>
        let bodyRange: Range<Int>

        /// The key, from the buffer the header was parsed from.
        func key(in bytes: UnsafeRawBufferPointer) -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[keyRange]), as: UTF8.self)
        }

        /// The event id, from the buffer the header was parsed from.
        func id(in bytes: UnsafeRawBufferPointer) -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[idRange]), as: UTF8.self)
        }
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
        let content: Range<Int>
        switch CRCFrame.check(bytes, at: position, minimumContent: fixedSize - prefixSize) {
        case .valid(let range): content = range
        case .incomplete: return .incomplete
        case .corrupt(let reason): return .corrupt(reason)
        }
        var cursor = content.lowerBound
        let offset = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor, as: UInt64.self))
        let timestamp = Int64(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor + 8, as: UInt64.self)))
        cursor += 16
        let end = content.upperBound
        let keyLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor, as: UInt16.self)))
        cursor += 2
        guard cursor + keyLength + 2 <= end else { return .corrupt("key overruns the record") }
        let keyRange = cursor..<(cursor + keyLength)
        cursor += keyLength
        let idLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: cursor, as: UInt16.self)))
        cursor += 2
        guard cursor + idLength <= end else { return .corrupt("id overruns the record") }
        let idRange = cursor..<(cursor + idLength)
        cursor += idLength
        return .record(
            Header(
                size: end - position, offset: offset, timestamp: timestamp, keyRange: keyRange, idRange: idRange,
                bodyRange: cursor..<end))
    }
}
