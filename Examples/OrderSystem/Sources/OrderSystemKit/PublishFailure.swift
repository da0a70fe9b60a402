public import Ferry

extension FerryError {
    /// Whether ferryd refused this event for good: publishing the same event again can never
    /// succeed (`INVALID_ARGUMENT`: a key over 1,024 bytes, a bad topic or id; `PAYLOAD_TOO_LARGE`:
    /// a payload over 1 MiB or a whole event over its limit; `MISSING_FIELD`; an event that does
    /// not encode; or a rejection code this build does not know, which the protocol says to treat
    /// as a failure of that item).
    ///
    /// Everything else can succeed later and is worth retrying: ferryd unreachable or restarting
    /// (`TRANSPORT`, `TIMEOUT`, `CLOSED`, …), out of room (`STORAGE_FULL`, `RESOURCE_EXHAUSTED`), a
    /// store failure, a broker shutting down, and errors that answer a whole command rather than
    /// one event (a malformed frame or an unsupported protocol version: a deployment problem, not
    /// the event's).
    public var isPermanentRejection: Bool {
        !Self.retryableCodes.contains(code.name)
    }

    private static let retryableCodes: Set<String> = [
        Code.timeout.name, Code.closed.name, Code.transport.name, Code.unexpectedReply.name, Code.brokerRestarted.name,
        Code.sessionEnded.name, "STORAGE_FULL", "STORAGE_FAILURE", "RESOURCE_EXHAUSTED", "SHUTTING_DOWN", "BATCH_TOO_LARGE",
        "MALFORMED_FRAME",
        "UNSUPPORTED_VERSION", "UNKNOWN_COMMAND", "UNKNOWN_SUBSCRIPTION", "UNKNOWN_GROUP",
    ]
}
