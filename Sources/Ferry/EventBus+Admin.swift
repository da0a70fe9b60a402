import FerryProtocol
public import Foundation

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
    /// When the event went to the dead-letter queue.
    public let deadLetteredAt: Date
    public let event: ReceivedEvent
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
                attempts: $0.attempts, lastError: $0.lastError,
                deadLetteredAt: Date(timeIntervalSince1970: Double($0.deadLetteredAtUs) / 1_000_000), event: ReceivedEvent(wire: $0.event, upcasters: connection.configuration.upcasters))
        }
    }

    /// Sends dead letters back to their group, attempts starting again at 1. `nil` ids: all
    /// (the broker takes a bounded number per command; this repeats until none is left).
    @discardableResult
    public func requeueDeadLetters(group: String, ids: [UInt64]? = nil) async throws(FerryError) -> Int {
        var requeue = DeadLetterRequeue()
        requeue.group = group
        requeue.ids = ids ?? []
        requeue.all = ids == nil
        return try await count(.deadLetterRequeue(requeue), repeating: ids == nil)
    }

    /// Deletes dead letters. `nil` ids: all (in bounded steps, as for a requeue).
    @discardableResult
    public func purgeDeadLetters(group: String, ids: [UInt64]? = nil) async throws(FerryError) -> Int {
        var purge = DeadLetterPurge()
        purge.group = group
        purge.ids = ids ?? []
        purge.all = ids == nil
        return try await count(.deadLetterPurge(purge), repeating: ids == nil)
    }

    /// The entries a dead-letter command changed; with `repeating`, sends it again while the
    /// queue still holds entries and the last one changed some.
    private func count(_ command: ClientMessage.OneOf_Command, repeating: Bool) async throws(FerryError) -> Int {
        var total = 0
        while true {
            guard case .deadLetterCount(let count) = try await connection.request(command) else {
                throw FerryError(.unexpectedReply, "expected DeadLetterCount")
            }
            total += Int(count.count)
            if !repeating || count.count == 0 || count.remaining == 0 { return total }
        }
    }
}

/// Where ``EventBus/replay(group:topic:from:)`` moves a group's cursor.
public enum ReplayPosition: Sendable {
    case beginning
    case end
    case offset(UInt64)
    case time(Date)
}

/// One event of a key's history.
public struct HistoryItem: Sendable {
    public let topic: String
    public let offset: UInt64
    public let event: ReceivedEvent
}

extension EventBus {
    /// Moves `group`'s cursor in `topic` (every topic it follows when nil) so it receives the
    /// events from `position` again. Returns the new position per topic.
    @discardableResult
    public func replay(group: String, topic: String? = nil, from position: ReplayPosition) async throws(FerryError) -> [String: UInt64] {
        var replay = Replay()
        replay.group = group
        replay.topic = topic ?? ""
        switch position {
        case .beginning: replay.beginning = true
        case .end: replay.end = true
        case .offset(let offset): replay.offset = offset
        case .time(let date): replay.timestampUs = Int64(date.timeIntervalSince1970 * 1_000_000)
        }
        guard case .replayed(let replayed) = try await connection.request(.replay(replay)) else {
            throw FerryError(.unexpectedReply, "expected Replayed")
        }
        return Dictionary(uniqueKeysWithValues: replayed.cursors.map { ($0.topic, $0.offset) })
    }

    /// Every stored event with `key` (every event of order 42, say), each topic in order.
    public func history(key: String, limit: Int = 1000) async throws(FerryError) -> [HistoryItem] {
        var request = HistoryRequest()
        request.key = key
        request.limit = UInt32(clamping: limit)
        guard case .historyEntries(let entries) = try await connection.request(.history(request)) else {
            throw FerryError(.unexpectedReply, "expected HistoryEntries")
        }
        return entries.entries.map { HistoryItem(topic: $0.topic, offset: $0.offset, event: ReceivedEvent(wire: $0.event, upcasters: connection.configuration.upcasters)) }
    }
}
