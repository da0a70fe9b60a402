public import Ferry
import Foundation
import HTTPTypes
import Synchronization

/// The consumer-group members that HTTP clients drive, by group and member name: each a
/// ``GroupConsumer`` on its principal's connection. A member that neither fetches nor settles
/// for its timeout is removed as the broker removes a silent peer: what it fetched and did not
/// settle counts as a failed attempt and goes to other members.
public final class HTTPMembers: Sendable {
    struct Entry {
        let principal: String
        let consumer: GroupConsumer
        var lastSeen: ContinuousClock.Instant
        /// Fetches waiting on it: a member is never expired while one waits.
        var busy = 0
    }

    private let entries = Mutex<[String: Entry]>([:])
    let timeout: Duration

    public init(timeout: Duration = GatewayLimits.defaultMemberTimeout) {
        self.timeout = timeout
    }

    static func key(_ group: String, _ member: String) -> String { group + "\u{0}" + member }

    /// How many members are alive.
    public var count: Int { entries.withLock { $0.count } }

    /// The member `name` of `group`, joining the group first if it does not exist, and marks it
    /// busy until ``done(group:member:)``.
    func acquire(
        group: String, member name: String, principal: String, create: () async throws(APIError) -> GroupConsumer
    ) async throws(APIError) -> GroupConsumer {
        let key = Self.key(group, name)
        if let consumer = try take(key, principal: principal) { return consumer }
        guard count < GatewayLimits.maxMembers else {
            throw APIError(.tooManyRequests, "RESOURCE_EXHAUSTED", "\(GatewayLimits.maxMembers) HTTP members exist; delete one or wait for one to expire")
        }
        let made = try await create()
        let winner: GroupConsumer? = entries.withLock { entries in
            if let existing = entries[key] { return existing.principal == principal ? existing.consumer : nil }
            entries[key] = Entry(principal: principal, consumer: made, lastSeen: .now, busy: 1)
            return made
        }
        if winner !== made {
            await made.close()
            // Another request made it meanwhile.
            guard let consumer = try take(key, principal: principal) else { throw Self.notYours(name) }
            return consumer
        }
        return made
    }

    /// The existing member, marked busy; nil if there is none.
    private func take(_ key: String, principal: String) throws(APIError) -> GroupConsumer? {
        try entries.withLock { (entries) throws(APIError) -> GroupConsumer? in
            guard var entry = entries[key] else { return nil }
            guard entry.principal == principal else { throw Self.notYours(String(key.split(separator: "\u{0}").last ?? "")) }
            entry.busy += 1
            entry.lastSeen = .now
            entries[key] = entry
            return entry.consumer
        }
    }

    /// The existing member, for a settle; throws 404 if there is none.
    func existing(group: String, member name: String, principal: String) throws(APIError) -> GroupConsumer {
        let key = Self.key(group, name)
        guard let consumer = try take(key, principal: principal) else {
            throw APIError(.notFound, "UNKNOWN_SUBSCRIPTION", "no member '\(name)' in group '\(group)' (it expired, or never fetched)")
        }
        done(group: group, member: name)
        return consumer
    }

    /// Ends a fetch or settle of the member.
    func done(group: String, member name: String) {
        entries.withLock { entries in
            let key = Self.key(group, name)
            guard var entry = entries[key] else { return }
            entry.busy = max(0, entry.busy - 1)
            entry.lastSeen = .now
            entries[key] = entry
        }
    }

    /// Removes the member (its unfetched deliveries go back at once); false if there was none.
    func remove(group: String, member name: String, principal: String) async throws(APIError) -> Bool {
        let consumer: GroupConsumer? = try entries.withLock { (entries) throws(APIError) -> GroupConsumer? in
            let key = Self.key(group, name)
            guard let entry = entries[key] else { return nil }
            guard entry.principal == principal else { throw Self.notYours(name) }
            entries[key] = nil
            return entry.consumer
        }
        await consumer?.close()
        return consumer != nil
    }

    /// Removes members idle past the timeout (and, with `principals`, those of principals no
    /// longer known); returns how many.
    @discardableResult
    public func expire(now: ContinuousClock.Instant = .now, keeping principals: Set<String>? = nil) async -> Int {
        let expired = entries.withLock { entries -> [GroupConsumer] in
            let keys = entries.filter { _, entry in
                (entry.busy == 0 && now - entry.lastSeen > timeout) || principals.map { !$0.contains(entry.principal) } == true
            }.map(\.key)
            defer { for key in keys { entries[key] = nil } }
            return keys.compactMap { entries[$0]?.consumer }
        }
        for consumer in expired { await consumer.close() }
        return expired.count
    }

    /// Ends every member (shutdown).
    public func closeAll() async {
        let all = entries.withLock { entries -> [GroupConsumer] in
            defer { entries = [:] }
            return entries.values.map(\.consumer)
        }
        for consumer in all { await consumer.close() }
    }

    private static func notYours(_ name: String) -> APIError {
        APIError(.conflict, "INVALID_ARGUMENT", "member '\(name)' belongs to another principal; choose another name")
    }
}
