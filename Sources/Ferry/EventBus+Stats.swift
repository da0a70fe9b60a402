import FerryProtocol
public import Foundation

/// A consumer group as ``EventBus/stats()`` and ``EventBus/groups()`` report it.
public struct GroupSummary: Sendable {
    /// The group's position and lag in one topic it follows.
    public struct TopicLag: Sendable {
        public let topic: String
        /// The next offset the group will deliver for the first time.
        public let position: UInt64
        /// The offset the topic's next event will get.
        public let end: UInt64
        /// Events stored but not yet delivered to the group: `end - position`.
        public let lag: UInt64
    }

    public let name: String
    public let members: Int
    public let inFlight: Int
    public let pendingRetries: Int
    public let deadLetters: Int
    /// Events stored but not yet delivered to the group, over all its topics.
    public let lag: UInt64
    /// Lag per topic, in increasing order of topic name.
    public let topics: [TopicLag]
    /// Every topic pattern the group follows (its members' now and before: a pattern stays with
    /// the group for as long as it exists).
    public let patterns: [String]
    /// Deliveries sent to the group's members since the broker started (retries included).
    public let delivered: UInt64
    /// Deliveries acked since the broker started: the events the group handled.
    public let acked: UInt64
    /// Deliveries nacked since the broker started (releases included).
    public let nacked: UInt64
    /// Retries and redeliveries sent since the broker started.
    public let redelivered: UInt64
    /// Events dead-lettered since the broker started.
    public let deadLettered: UInt64
    /// An ephemeral group (``EventBus/tail(_:from:group:maxInFlight:)``), removed with its last member.
    public let ephemeral: Bool
    /// Scheduled events not yet due on topics the group follows: it receives them when due.
    public let scheduled: UInt64

    init(_ stats: GroupStats) {
        name = stats.name
        members = Int(stats.members)
        inFlight = Int(stats.inFlight)
        pendingRetries = Int(stats.pendingRetries)
        deadLetters = Int(stats.deadLetters)
        lag = stats.lag
        topics = stats.topics.map { TopicLag(topic: $0.topic, position: $0.position, end: $0.end, lag: $0.lag) }
        patterns = stats.patterns
        delivered = stats.delivered
        acked = stats.acked
        nacked = stats.nacked
        redelivered = stats.redelivered
        deadLettered = stats.deadLettered
        ephemeral = stats.ephemeral
        scheduled = stats.scheduled
    }
}

/// A topic as ``EventBus/stats()`` reports it.
public struct TopicSummary: Sendable {
    public let name: String
    /// The oldest offset the broker still holds.
    public let firstOffset: UInt64
    /// The offset the next event will get.
    public let nextOffset: UInt64
    /// Events held: `nextOffset - firstOffset` (gaps left by recovery included).
    public var eventCount: UInt64 { nextOffset - min(firstOffset, nextOffset) }
    /// What recovery found damaged in the topic's log when the broker started: corrupt regions
    /// skipped, the events they held (lost), the bytes skipped, and bytes cut off torn tails.
    public var corruptRegions: UInt64 = 0
    public var lostEvents: UInt64 = 0
    public var skippedBytes: UInt64 = 0
    public var truncatedBytes: UInt64 = 0
    /// Events scheduled for this topic and not yet due.
    public var scheduled: UInt64 = 0
}

/// A snapshot of the broker: its groups, topics, totals and metrics.
public struct BrokerStats: Sendable {
    public let groups: [GroupSummary]
    public let topics: [TopicSummary]
    /// Bytes the broker's store holds.
    public let storedBytes: UInt64
    /// Live client sessions.
    public let connections: Int
    /// The broker's metrics in the Prometheus text exposition format.
    public let prometheusText: String
    /// Scheduled events not yet due, over all topics, and when the next is due.
    public var scheduledEvents: UInt64 = 0
    public var nextScheduledDue: Date? = nil
}

extension EventBus {
    /// The broker's groups, topics, stored bytes, connections and metrics.
    public func stats() async throws(FerryError) -> BrokerStats {
        guard case .stats(let stats) = try await connection.request(.stats(StatsRequest())) else {
            throw FerryError(.unexpectedReply, "expected Stats")
        }
        return BrokerStats(
            groups: stats.groups.map(GroupSummary.init),
            topics: stats.topics.map {
                TopicSummary(
                    name: $0.name, firstOffset: $0.firstOffset, nextOffset: $0.nextOffset, corruptRegions: $0.corruptRegions,
                    lostEvents: $0.lostEvents, skippedBytes: $0.skippedBytes, truncatedBytes: $0.truncatedBytes, scheduled: $0.scheduled)
            },
            storedBytes: stats.storedBytes, connections: Int(stats.connections), prometheusText: stats.prometheusText,
            scheduledEvents: stats.scheduledEvents,
            nextScheduledDue: stats.nextScheduledDueUs == 0 ? nil : Date(timeIntervalSince1970: Double(stats.nextScheduledDueUs) / 1_000_000))
    }

    /// The broker's consumer groups.
    public func groups() async throws(FerryError) -> [GroupSummary] {
        try await stats().groups
    }
}
