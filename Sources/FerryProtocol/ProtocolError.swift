/// A protocol-level failure with the wire error code a peer receives for it.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The error as a wire `Error` message.
    public var wire: WireError {
        var error = WireError()
        error.code = code
        error.message = message
        return error
    }

    public var description: String { "\(code.name): \(message)" }
}

extension ErrorCode {
    /// The code's name as written in commands.proto, e.g. `PAYLOAD_TOO_LARGE`.
    public var name: String {
        switch self {
        case .unspecified: "ERROR_CODE_UNSPECIFIED"
        case .malformedFrame: "MALFORMED_FRAME"
        case .unknownCommand: "UNKNOWN_COMMAND"
        case .payloadTooLarge: "PAYLOAD_TOO_LARGE"
        case .missingField: "MISSING_FIELD"
        case .unsupportedVersion: "UNSUPPORTED_VERSION"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .unknownGroup: "UNKNOWN_GROUP"
        case .unknownSubscription: "UNKNOWN_SUBSCRIPTION"
        case .storageFull: "STORAGE_FULL"
        case .storageFailure: "STORAGE_FAILURE"
        case .shuttingDown: "SHUTTING_DOWN"
        case .batchTooLarge: "BATCH_TOO_LARGE"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .unauthenticated: "UNAUTHENTICATED"
        case .forbidden: "FORBIDDEN"
        case .UNRECOGNIZED(let value): "UNRECOGNIZED(\(value))"
        }
    }
}
