import FerryBroker
import FerryBrokerTesting
import FerryProtocol

/// A retry policy for a Subscribe, jitter off unless asked for, so that due times are exact.
func retryPolicy(
    initial: Duration = .seconds(1), multiplier: Double = 2, maxDelay: Duration = .seconds(60), maxAttempts: UInt32 = 5,
    jitter: Double = 0, ackTimeout: Duration = .seconds(30)
) -> WireRetryPolicy {
    var policy = WireRetryPolicy()
    policy.initialDelayMs = UInt32(initial / .milliseconds(1))
    policy.multiplierPermille = UInt32((multiplier * 1000).rounded())
    policy.maxDelayMs = UInt32(maxDelay / .milliseconds(1))
    policy.maxAttempts = maxAttempts
    policy.jitterPermille = UInt32((jitter * 1000).rounded())
    policy.ackTimeoutMs = UInt32(ackTimeout / .milliseconds(1))
    return policy
}

extension EmbeddedClient {
    /// The group's dead-letter entries (the first page).
    func deadLetters(group: String) -> [DeadLetter] {
        var list = DeadLetterList()
        list.group = group
        guard case .deadLetterEntries(let entries)? = request(.deadLetterList(list)) else { return [] }
        return entries.entries
    }

    /// The named group's line in Stats.
    func groupStats(_ name: String) -> GroupStats? { stats()?.groups.first { $0.name == name } }
}

extension ServerMessage.OneOf_Reply {
    /// The confirmed offsets of a PublishResult (empty for any other reply).
    var offsets: [UInt64] {
        if case .publishResult(let result) = self { return result.offsets }
        return []
    }

    /// The error code of an Error reply.
    var errorCode: ErrorCode? {
        if case .error(let error) = self { return error.code }
        return nil
    }
}
