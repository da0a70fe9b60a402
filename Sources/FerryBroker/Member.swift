import FerryProtocol
import FerryStorage

/// One subscription: a member of a consumer group, living on a peer.
final class Member {
    unowned let peer: Peer
    unowned let group: ConsumerGroup
    let subscriptionID: UInt32
    let name: String
    let patterns: [TopicPattern]
    private let patternSet: TopicPatternSet
    /// Credit: the most unsettled deliveries this member may hold.
    let maxInFlight: Int
    var inFlight = 0
    /// Unsubscribed with drain: gets nothing new, leaves once nothing of it is in flight.
    var draining = false
    /// Subscribed, but its group's state is not on disk yet: gets nothing until its
    /// `Subscribed` reply is sent (see ``Broker/holdUntilGroupStateIsDurable``).
    var awaitingDurableState = false
    /// The number of ``name`` in the trace's table.
    @exclusivity(unchecked) var traceName = TraceNameCache()
    /// Seed for rendezvous hashing of keys onto members.
    let hashSeed: UInt64

    init(peer: Peer, group: ConsumerGroup, subscriptionID: UInt32, name: String, patterns: [TopicPattern], maxInFlight: Int) {
        self.peer = peer
        self.group = group
        self.subscriptionID = subscriptionID
        self.name = name
        self.patterns = patterns
        self.patternSet = TopicPatternSet(patterns)
        self.maxInFlight = maxInFlight
        self.hashSeed = UInt64.random(in: .min ... .max)
    }

    var credit: Int { maxInFlight - inFlight }

    func matches(_ topic: String) -> Bool { patternSet.matches(topic) }
}
