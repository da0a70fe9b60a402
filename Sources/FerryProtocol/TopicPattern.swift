/// Topic names: dot-separated tokens of `[A-Za-z0-9_-]`, e.g. `orders.created`.
public enum TopicName {
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    /// Throws `INVALID_ARGUMENT` unless `topic` is a valid topic name.
    public static func validate(_ topic: String, maxBytes: Int = 255) throws(ProtocolError) {
        var topic = topic
        try topic.withUTF8 { bytes in
            Result { () throws(ProtocolError) in try validate(UnsafeRawBufferPointer(bytes), maxBytes: maxBytes) }
        }.get()
    }

    /// Throws `INVALID_ARGUMENT` unless the UTF-8 bytes `topic` are a valid topic name.
    public static func validate(_ topic: UnsafeRawBufferPointer, maxBytes: Int = 255) throws(ProtocolError) {
        var valid = !topic.isEmpty && topic.count <= maxBytes
        var tokenLength = 0
        for byte in topic where valid {
            if byte == UInt8(ascii: ".") {
                valid = tokenLength > 0
                tokenLength = 0
            } else {
                valid = isTokenByte(byte)
                tokenLength += 1
            }
        }
        guard valid, tokenLength > 0 else {
            let name = String(decoding: topic, as: UTF8.self)
            throw ProtocolError(
                .invalidArgument, "topic '\(name)' must be 1-\(maxBytes) bytes of dot-separated tokens of [A-Za-z0-9_-]")
        }
    }
}

/// A subscription pattern: an exact topic, `*` for exactly one token, `>` (last) for one or more.
public struct TopicPattern: Sendable, Hashable, CustomStringConvertible {
    enum Token: Sendable, Hashable {
        case literal(Substring)
        case any
        case rest
    }

    public let description: String
    let tokens: [Token]

    /// Parses `pattern`, throwing `INVALID_ARGUMENT` for a malformed one.
    public init(_ pattern: String) throws(ProtocolError) {
        let parts = pattern.split(separator: ".", omittingEmptySubsequences: false)
        var tokens: [Token] = []
        for (index, part) in parts.enumerated() {
            switch part {
            case "*": tokens.append(.any)
            case ">" where index == parts.count - 1: tokens.append(.rest)
            default:
                guard !part.isEmpty, part.utf8.allSatisfy(TopicName.isTokenByte) else {
                    throw ProtocolError(
                        .invalidArgument,
                        "pattern '\(pattern)' must be dot-separated tokens of [A-Za-z0-9_-], '*', or a final '>'")
                }
                tokens.append(.literal(part))
            }
        }
        self.description = pattern
        self.tokens = tokens
    }

    /// Whether `topic` matches this pattern.
    public func matches(_ topic: String) -> Bool {
        var remaining = topic[...]
        for (index, token) in tokens.enumerated() {
            if case .rest = token { return !remaining.isEmpty }
            let end = remaining.firstIndex(of: ".") ?? remaining.endIndex
            let part = remaining[..<end]
            switch token {
            case .literal(let literal): if part != literal { return false }
            case .any: if part.isEmpty { return false }
            case .rest: return true
            }
            if end == remaining.endIndex {
                return index == tokens.count - 1
            }
            remaining = remaining[remaining.index(after: end)...]
        }
        return false
    }
}
