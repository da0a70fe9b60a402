public import FerryProtocol

/// A failure reported by the broker or by the client SDK, with a code a program can act on.
public struct FerryError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }

        /// The broker did not answer within the configured timeout.
        public static let timeout = Code(name: "TIMEOUT")
        /// The client was closed.
        public static let closed = Code(name: "CLOSED")
        /// A ZeroMQ call failed.
        public static let transport = Code(name: "TRANSPORT")
        /// The event could not be encoded or decoded.
        public static let serialization = Code(name: "SERIALIZATION")
        /// The broker answered with something the client did not expect.
        public static let unexpectedReply = Code(name: "UNEXPECTED_REPLY")
        /// The broker restarted and ``ClientConfiguration/autoResume`` is off: the connection's
        /// subscriptions and delivery ids are void.
        public static let brokerRestarted = Code(name: "BROKER_RESTARTED")
        /// The broker ended this session (the process was silent past its peer timeout) and
        /// ``ClientConfiguration/autoResume`` is off.
        public static let sessionEnded = Code(name: "SESSION_ENDED")
        /// A CURVE key or certificate file that cannot be used.
        public static let invalidKey = Code(name: "INVALID_KEY")
        /// A wire error code (`PAYLOAD_TOO_LARGE`, `STORAGE_FULL`, …).
        public static func broker(_ code: ErrorCode) -> Code { Code(name: code.name) }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    init(_ error: WireError) {
        self.init(.broker(error.code), error.message)
    }

    public var description: String { "\(code): \(message)" }
}
