import FerryRuntime

/// How a batched handler's batches are cut: at `maxSize` events, or `maxWait` after the
/// first event of the batch arrived, whichever comes first.
public struct BatchOptions: Sendable {
    public var maxSize: Int
    public var maxWait: Duration

    public init(maxSize: Int = 100, maxWait: Duration = .milliseconds(200)) {
        precondition(maxSize > 0, "a batch holds at least one event")
        self.maxSize = maxSize
        self.maxWait = maxWait
    }
}

/// How a handler group consumes.
public struct HandlerGroupOptions: Sendable {
    /// Credit: the most deliveries the broker hands this member before it settles some.
    public var maxInFlight = 256
    /// Handlers running at once. Events with the same key are always handled one after
    /// another, in order.
    public var concurrency = 4
    /// The group's retry policy, used when the broker's configuration has none for it.
    public var retry: RetryOptions?
    /// How long shutdown lets running handlers finish before handing their events back and
    /// cancelling them (``Worker/run()`` returns once they have returned).
    public var shutdownDeadline: Duration = .seconds(10)
    /// A new group starts with the oldest stored events (`true`) or only new ones.
    public var startFromEarliest = true

    public init() {}
}

/// Retry policy a group asks for (see proto/README.md for the rules).
public struct RetryOptions: Sendable {
    public var initialDelay: Duration = .seconds(1)
    public var multiplier = 2.0
    public var maxDelay: Duration = .seconds(60)
    /// Deliveries before the event goes to the dead-letter queue.
    public var maxAttempts = 5
    public var jitter = 0.2
    public var ackTimeout: Duration = .seconds(30)

    public init(
        initialDelay: Duration = .seconds(1), multiplier: Double = 2.0, maxDelay: Duration = .seconds(60), maxAttempts: Int = 5,
        jitter: Double = 0.2, ackTimeout: Duration = .seconds(30)
    ) {
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.maxDelay = maxDelay
        self.maxAttempts = maxAttempts
        self.jitter = jitter
        self.ackTimeout = ackTimeout
    }
}

extension Duration {
    /// Whole milliseconds, as the wire's `_ms` fields carry them (clamped to `UInt32`).
    var milliseconds: UInt32 { UInt32(clamping: wholeMilliseconds) }
}
