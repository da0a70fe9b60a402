import FerryProtocol

/// How a consumer group retries failed deliveries and when it gives up.
public struct RetryPolicy: Sendable, Equatable, Codable {
    /// Delay before the first retry, in milliseconds.
    public var initialDelayMilliseconds: UInt32 = 1000
    /// Factor applied to the delay after each failed attempt.
    public var multiplier: Double = 2.0
    /// Upper bound of a retry delay, in milliseconds.
    public var maxDelayMilliseconds: UInt32 = 60_000
    /// Deliveries before the event is dead-lettered (1 = no retry).
    public var maxAttempts: UInt32 = 5
    /// Random spread of each delay, as a fraction of it (0.2 = ±20 %).
    public var jitter: Double = 0.2
    /// How long a delivery may stay unsettled before it counts as failed, in milliseconds.
    public var ackTimeoutMilliseconds: UInt32 = 30_000

    public init() {}

    /// The policy a `Subscribe` asks for, with zero fields taken from `defaults`.
    init(wire: WireRetryPolicy, defaults: RetryPolicy) {
        self = defaults
        if wire.initialDelayMs > 0 { initialDelayMilliseconds = wire.initialDelayMs }
        if wire.multiplierPermille > 0 { multiplier = Double(wire.multiplierPermille) / 1000 }
        if wire.maxDelayMs > 0 { maxDelayMilliseconds = wire.maxDelayMs }
        if wire.maxAttempts > 0 { maxAttempts = wire.maxAttempts }
        if wire.hasJitterPermille { jitter = min(1, Double(wire.jitterPermille) / 1000) }
        if wire.ackTimeoutMs > 0 { ackTimeoutMilliseconds = wire.ackTimeoutMs }
    }

    var wire: WireRetryPolicy {
        var wire = WireRetryPolicy()
        wire.initialDelayMs = initialDelayMilliseconds
        wire.multiplierPermille = UInt32((multiplier * 1000).rounded())
        wire.maxDelayMs = maxDelayMilliseconds
        wire.maxAttempts = maxAttempts
        wire.jitterPermille = UInt32((jitter * 1000).rounded())
        wire.ackTimeoutMs = ackTimeoutMilliseconds
        return wire
    }

    /// The delay before redelivering after `failedAttempt` (1-based) failed, jitter included.
    func delayMilliseconds<G: RandomNumberGenerator>(afterAttempt failedAttempt: UInt32, using generator: inout G) -> Double {
        let exponent = Double(max(0, Int(failedAttempt) - 1))
        let base = min(Double(maxDelayMilliseconds), Double(initialDelayMilliseconds) * pow(multiplier, exponent))
        guard jitter > 0 else { return base }
        let spread = base * jitter
        return max(0, min(Double(maxDelayMilliseconds), base + Double.random(in: -spread...spread, using: &generator)))
    }
}

#if canImport(Glibc)
    import Glibc
#endif
