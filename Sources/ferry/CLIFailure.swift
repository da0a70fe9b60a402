import ArgumentParser
import Ferry
import FerryProtocol
import Foundation

/// The exit codes scripts can rely on (also listed in `ferry --help`).
enum ExitCodes {
    /// ferryd rejected the request (an invalid topic or pattern, a full store, …).
    static let rejected = ExitCode(1)
    /// The group, or the dead-letter id, does not exist.
    static let notFound = ExitCode(2)
    /// Bad command line (swift-argument-parser's code for validation errors).
    static let usage = ExitCode.validationFailure
    /// Bad input data: a payload or a stdin line that is not JSON.
    static let badInput = ExitCode(65)
    /// ferryd is unreachable or did not answer within --timeout.
    static let unavailable = ExitCode(69)
}

/// A failure the CLI reports with a message on stderr and one of ``ExitCodes``.
struct CLIFailure: Error {
    let exitCode: ExitCode
    let message: String

    init(_ exitCode: ExitCode, _ message: String) {
        self.exitCode = exitCode
        self.message = message
    }

    /// Whether ferryd did not answer (timeout, transport, closed) rather than reject: what was
    /// sent may or may not have been applied.
    static func isUnanswered(_ error: FerryError) -> Bool {
        [FerryError.Code.timeout, .transport, .closed].contains(error.code)
    }

    /// Classifies an SDK error: unreachable, not found, or rejected.
    init(_ error: FerryError, broker: String, timeout: Double) {
        switch error.code {
        case _ where Self.isUnanswered(error):
            let seconds = timeout == timeout.rounded() ? "\(Int(timeout))" : "\(timeout)"
            self.init(
                ExitCodes.unavailable,
                "ferryd at \(broker) did not answer within \(seconds) s (\(error.code)); is it running? Set --broker or FERRY_BROKER. "
                    + "If it serves CURVE, check --server-key and --client-key-file: a key it does not know gets no answer.")
        case .broker(.unknownGroup):
            self.init(ExitCodes.notFound, "\(error.message) (\(error.code))")
        default:
            self.init(ExitCodes.rejected, "ferryd rejected the request: \(error.message) (\(error.code))")
        }
    }

    /// Writes the message to stderr and returns the exit code to throw.
    func report() -> ExitCode {
        FileHandle.standardError.write(Data("ferry: error: \(message)\n".utf8))
        return exitCode
    }
}
