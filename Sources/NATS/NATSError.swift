import CNATS

/// A failure of the NATS client or of JetStream, with what each reported.
public struct NATSError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// No answer in time (a cluster without a quorum answers nothing).
        case timeout
        /// Nothing answers the request: JetStream is not there (yet), or has no leader.
        case unavailable
        /// The connection is closed or could not be made.
        case notConnected
        /// JetStream refused the request; ``NATSError/jetStreamCode`` says why (for example
        /// 10071, a wrong last sequence; 10003 or no responders, no quorum).
        case jetStream
        /// Nothing stored under that key or sequence.
        case notFound
        /// Any other status of the C client.
        case other
    }

    public let code: Code
    /// The C client's status (`natsStatus`).
    public let status: Int32
    /// JetStream's error code (`jsErrCode`), 0 when it gave none.
    public let jetStreamCode: Int
    public let message: String

    public init(code: Code, status: Int32 = 0, jetStreamCode: Int = 0, message: String) {
        self.code = code
        self.status = status
        self.jetStreamCode = jetStreamCode
        self.message = message
    }

    /// JetStream's "wrong last sequence" (10071): a publish fenced by an expected last sequence
    /// found another writer's message there.
    public var isWrongLastSequence: Bool { jetStreamCode == 10071 }

    /// The error for `status` (and JetStream's `errorCode`) while doing `what`.
    static func from(_ status: natsStatus, jetStreamCode: jsErrCode = jsErrCode(rawValue: 0), doing what: String) -> NATSError {
        let text = String(cString: natsStatus_GetText(status))
        var last = natsStatus(rawValue: 0)
        let detail = nats_GetLastError(&last).map { String(cString: $0) } ?? ""
        let code: Code =
            switch status {
            case NATS_TIMEOUT: .timeout
            case NATS_NO_RESPONDERS: .unavailable
            case NATS_CONNECTION_CLOSED, NATS_NO_SERVER, NATS_CONNECTION_DISCONNECTED: .notConnected
            case NATS_NOT_FOUND: .notFound
            default: jetStreamCode.rawValue != 0 ? .jetStream : .other
            }
        let message = "\(what): \(text)" + (detail.isEmpty || detail == text ? "" : " (\(detail))")
        return NATSError(code: code, status: Int32(status.rawValue), jetStreamCode: Int(jetStreamCode.rawValue), message: message)
    }

    public var description: String { message }
}

/// Throws unless `status` is `NATS_OK`.
func check(_ status: natsStatus, _ what: @autoclosure () -> String) throws(NATSError) {
    guard status != NATS_OK else { return }
    throw NATSError.from(status, doing: what())
}

/// Throws unless `status` is `NATS_OK`, with JetStream's error code.
func check(_ status: natsStatus, _ jetStreamCode: jsErrCode, _ what: @autoclosure () -> String) throws(NATSError) {
    guard status != NATS_OK else { return }
    throw NATSError.from(status, jetStreamCode: jetStreamCode, doing: what())
}
