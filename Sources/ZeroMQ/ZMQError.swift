import CZeroMQ

/// A libzmq failure: the `errno` that libzmq reported, its text, and the call that failed.
public struct ZMQError: Error, Sendable, CustomStringConvertible {
    /// The libzmq/POSIX error number (`EAGAIN`, `ETERM`, `EHOSTUNREACH`, …).
    public let code: Int32
    /// `zmq_strerror(code)`.
    public let message: String
    /// The operation that failed, e.g. `"zmq_bind(tcp://127.0.0.1:7400)"`.
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.message = String(cString: zmq_strerror(code))
        self.operation = operation
    }

    /// The error libzmq reported for the calling thread's last call.
    static func last(_ operation: @autoclosure () -> String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation())
    }

    public var description: String { "\(operation): \(message) (errno \(code))" }

    /// The context was terminated while the call was blocked.
    public var isContextTerminated: Bool { code == ETERM }
    /// A non-blocking call would have blocked.
    public var isWouldBlock: Bool { code == EAGAIN }
}
