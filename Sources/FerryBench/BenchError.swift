import FerryProtocol

/// Why a bench run failed, with a stable code for scripts and a message for people.
struct BenchError: Error, CustomStringConvertible {
    enum Code: String, Sendable, Codable {
        /// No answer from the broker within the connect timeout.
        case brokerUnreachable = "BROKER_UNREACHABLE"
        /// The ferryd to start was not found or did not start.
        case ferrydFailed = "FERRYD_FAILED"
        /// The broker answered a command with an error.
        case brokerError = "BROKER_ERROR"
        /// Nothing was confirmed or consumed for the stall timeout.
        case stalled = "STALLED"
        /// Interrupted (Ctrl-C).
        case interrupted = "INTERRUPTED"
    }

    let code: Code
    let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { "\(code.rawValue): \(message)" }

    /// The broker's error reply, as a bench error.
    static func broker(_ error: WireError) -> BenchError {
        BenchError(.brokerError, "broker answered \(error.code): \(error.message)")
    }
}
