import FerryProtocol

/// An entry of a consumer group's dead-letter queue.
public struct DeadLetterEntry: Sendable {
    public enum Reason: String, Sendable {
        /// The group's last attempt failed.
        case maxAttempts
        /// A handler declared the event poison (``DeadLetterError``).
        case rejected
    }

    public let id: UInt64
    public let group: String
    public let offset: UInt64
    public let reason: Reason
    public let attempts: UInt32
    public let lastError: String
    public let event: ReceivedEvent
}

/// A consumer group as ``EventBus/stats()`` reports it.
public struct GroupSummary: Sendable {
    public let name: String
    public let members: Int
    public let inFlight: Int
    public let pendingRetries: Int
    public let deadLetters: Int
    public let lag: UInt64
}

extension EventBus {
    /// Lists up to `limit` dead letters of `group` with ids after `afterID`.
    public func deadLetters(group: String, after afterID: UInt64 = 0, limit: Int = 100) async throws(FerryError) -> [DeadLetterEntry] {
        var list = DeadLetterList()
        list.group = group
        list.afterID = afterID
        list.limit = UInt32(clamping: limit)
        guard case .deadLetterEntries(let entries) = try await connection.request(.deadLetterList(list)) else {
            throw FerryError(.unexpectedReply, "expected DeadLetterEntries")
        }
        return entries.entries.map {
            DeadLetterEntry(
                id: $0.id, group: $0.group, offset: $0.offset, reason: $0.reason == .rejected ? .rejected : .maxAttempts,
                attempts: $0.attempts, lastError: $0.lastError, event: ReceivedEvent(wire: $0.event))
        }
    }

    /// Sends dead letters back to their group, attempts starting again at 1. `nil` ids: all.
    @discardableResult
    public func requeueDeadLetters(group: String, ids: [UInt64]? = nil) async throws(FerryError) -> Int {
        var requeue = DeadLetterRequeue()
        requeue.group = group
        requeue.ids = ids ?? []
        requeue.all = ids == nil
        return try await count(.deadLetterRequeue(requeue))
    }

    /// Deletes dead letters. `nil` ids: all.
    @discardableResult
    public func purgeDeadLetters(group: String, ids: [UInt64]? = nil) async throws(FerryError) -> Int {
        var purge = DeadLetterPurge()
        purge.group = group
        purge.ids = ids ?? []
        purge.all = ids == nil
        return try await count(.deadLetterPurge(purge))
    }

    /// The broker's consumer groups.
    public func groups() async throws(FerryError) -> [GroupSummary] {
        guard case .stats(let stats) = try await connection.request(.stats(StatsRequest())) else {
            throw FerryError(.unexpectedReply, "expected Stats")
        }
        return stats.groups.map {
            GroupSummary(
                name: $0.name, members: Int($0.members), inFlight: Int($0.inFlight), pendingRetries: Int($0.pendingRetries),
                deadLetters: Int($0.deadLetters), lag: $0.lag)
        }
    }

    private func count(_ command: ClientMessage.OneOf_Command) async throws(FerryError) -> Int {
        guard case .deadLetterCount(let count) = try await connection.request(command) else {
            throw FerryError(.unexpectedReply, "expected DeadLetterCount")
        }
        return Int(count.count)
    }
}
