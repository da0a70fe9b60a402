/// Thrown by a handler when the event can never succeed (a poison event): it goes straight
/// to the group's dead-letter queue instead of being retried.
public struct DeadLetterError: Error, Sendable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}

/// Thrown by a handler to retry after a specific delay instead of the group's backoff.
public struct RetryLaterError: Error, Sendable, CustomStringConvertible {
    public let delay: Duration
    public let reason: String

    public init(after delay: Duration, reason: String = "retry later") {
        self.delay = delay
        self.reason = reason
    }

    public var description: String { "\(reason) (retry after \(delay))" }
}
