/// Reads protobuf fields in place from a buffer, for the hot paths that must not build message
/// objects (``PublishFrame``, the load generator). Anything unusual sets ``malformed``, and the
/// caller falls back to SwiftProtobuf, whose answer is the reference.
public struct ProtoReader {
    /// One field: its number, and either its varint value or its bytes.
    public enum Value {
        case varint(UInt64)
        case bytes(UnsafeRawBufferPointer)
        /// A fixed32 or fixed64 value (not read), or a skipped group.
        case skipped
    }

    private let buffer: UnsafeRawBufferPointer
    /// Where the next field starts.
    private var position = 0
    /// Set when the buffer is not valid protobuf (or uses something this reader does not take).
    public private(set) var malformed = false

    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { position >= buffer.count }

    public mutating func readVarint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < buffer.count && shift < 64 {
            let byte = buffer[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        malformed = true
        return nil
    }

    /// The next field, or nil at the end (or on malformed input, which sets ``malformed``).
    public mutating func next() -> (field: UInt64, value: Value)? {
        guard position < buffer.count, let tag = readVarint() else { return nil }
        let field = tag >> 3
        // Field numbers are 1...2^29-1: a longer tag is malformed for every protobuf reader
        // (SwiftProtobuf refuses it; one that kept the low 32 bits would read another field).
        guard field > 0, tag < UInt64(UInt32.max) else { return fail() }
        switch tag & 7 {
        case 0:
            guard let value = readVarint() else { return nil }
            return (field, .varint(value))
        case 1, 5:
            let size = tag & 7 == 1 ? 8 : 4
            guard position + size <= buffer.count else { return fail() }
            position += size
            return (field, .skipped)
        case 2:
            guard let length = readVarint(), length <= UInt64(buffer.count - position) else { return fail() }
            let slice = UnsafeRawBufferPointer(rebasing: buffer[position..<position + Int(length)])
            position += Int(length)
            return (field, .bytes(slice))
        case 3:
            guard skipGroup(field, depth: 0) else { return fail() }
            return (field, .skipped)
        default:
            return fail()
        }
    }

    /// Skips a (deprecated) group's fields up to its end tag.
    private mutating func skipGroup(_ number: UInt64, depth: Int) -> Bool {
        guard depth < 32 else { return false }
        while position < buffer.count, let tag = readVarint() {
            switch tag & 7 {
            case 0: guard readVarint() != nil else { return false }
            case 1, 5:
                let size = tag & 7 == 1 ? 8 : 4
                guard position + size <= buffer.count else { return false }
                position += size
            case 2:
                guard let length = readVarint(), length <= UInt64(buffer.count - position) else { return false }
                position += Int(length)
            case 3: guard skipGroup(tag >> 3, depth: depth + 1) else { return false }
            case 4: return tag >> 3 == number
            default: return false
            }
        }
        return false
    }

    private mutating func fail() -> (field: UInt64, value: Value)? {
        malformed = true
        return nil
    }

    /// Counts the varints in a packed repeated field.
    public static func packedCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        var count = 0
        for byte in bytes where byte < 0x80 { count += 1 }
        return count
    }
}
