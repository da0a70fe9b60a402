/// A storage failure with a code the broker maps to a wire error.
public struct StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// No room left: the disk, the in-memory store's byte budget, or the budget of appends
        /// waiting for an fsync is full. Retry later.
        case full
        /// Reading or writing failed.
        case io
        /// The process ran out of file descriptors (EMFILE, ENFILE): a topic could not be
        /// opened. Retry once others were closed, or raise the descriptor limit.
        case descriptors
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
