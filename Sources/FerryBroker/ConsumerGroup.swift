import FerryProtocol
import FerryStorage

/// A named consumer group: its members, its position in each topic, and its retries.
final class ConsumerGroup {
    let name: String
    /// The number of ``name`` in the trace's table.
    @exclusivity(unchecked) var traceName = TraceNameCache()
    let policy: RetryPolicy
    /// Where the group starts in topics that existed when it was created.
    let startAtLatest: Bool
    private(set) var members: [Member] = []
    var cursors: [String: TopicCursor] = [:]
    var retries = RetryQueue()
    /// Members that match each topic, rebuilt when membership changes.
    private var membersByTopic: [String: [Member]] = [:]
    /// Rotates the starting point when picking among equally free members.
    var roundRobin = 0
    /// What happened to the group's deliveries since the broker started.
    var counters = GroupCounters()
    /// Kept in memory only (never saved, no dead-letter queue) and removed with its last member.
    let ephemeral: Bool
    /// The principal whose subscription created this ephemeral group: only it may join it.
    var owner: String?

    init(name: String, policy: RetryPolicy, startAtLatest: Bool, ephemeral: Bool = false) {
        self.name = name
        self.policy = policy
        self.startAtLatest = startAtLatest
        self.ephemeral = ephemeral
    }

    /// Every pattern any member ever subscribed with: a group keeps following its topics
    /// while it has no members, so nothing published meanwhile is skipped. A pattern stays for
    /// as long as the group exists.
    private(set) var patternSet = TopicPatternSet()
    var patterns: [TopicPattern] { patternSet.patterns }

    /// The definition (patterns) changed since the last save.
    var definitionChanged = true
    /// The store's ticket of the last save that carried the group's definition or new cursors:
    /// once durable, the group is on disk as its members were told (0: restored from disk).
    var definitionTicket: UInt64 = 0

    func add(_ member: Member) {
        members.append(member)
        for pattern in member.patterns { follow(pattern) }
        membersByTopic.removeAll()
    }

    /// Adds a pattern the group follows from now on, members or not.
    func follow(_ pattern: TopicPattern) {
        if patternSet.insert(pattern) { definitionChanged = true }
    }

    /// How many of `patterns` the group does not follow yet.
    func newPatternCount(_ patterns: [TopicPattern]) -> Int {
        Set(patterns.filter { !patternSet.contains($0) }.map(\.description)).count
    }

    /// Forgets cached member lists after a member changed what it takes.
    func membershipChanged() { membersByTopic.removeAll() }

    func remove(_ member: Member) {
        members.removeAll { $0 === member }
        membersByTopic.removeAll()
    }

    func members(for topic: String) -> [Member] {
        if let cached = membersByTopic[topic] { return cached }
        let matching = members.filter { !$0.draining && !$0.awaitingDurableState && $0.matches(topic) }
        membersByTopic[topic] = matching
        return matching
    }

    func matches(_ topic: String) -> Bool { patternSet.matches(topic) }

    var inFlight: Int { members.reduce(0) { $0 + $1.inFlight } }

    /// The member that should receive an event with `key` among `candidates`: rendezvous
    /// hashing for keyed events (stable while membership is), the freest member otherwise.
    /// Returns nil when the chosen member has no credit left.
    func pickMember(for key: String, among candidates: [Member]) -> Member? {
        if key.isEmpty {
            var best: Member?
            let count = candidates.count
            for step in 0..<count {
                let member = candidates[(roundRobin + step) % count]
                if member.credit > (best?.credit ?? 0) { best = member }
            }
            roundRobin &+= 1
            return best
        }
        var keyHash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 { keyHash = (keyHash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        var best: Member?
        var bestScore: UInt64 = 0
        for member in candidates {
            let score = Self.mix(keyHash ^ member.hashSeed)
            if best == nil || score > bestScore {
                best = member
                bestScore = score
            }
        }
        guard let best, best.credit > 0 else { return nil }
        return best
    }

    /// SplitMix64's finaliser: spreads the bits of `value`.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// A group's delivery counters since the broker started, reported in `GroupStats`.
struct GroupCounters {
    var delivered: UInt64 = 0
    var acked: UInt64 = 0
    var nacked: UInt64 = 0
    var redelivered: UInt64 = 0
    var deadLettered: UInt64 = 0
}
