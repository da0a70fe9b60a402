import FerryProtocol
import FerryRuntime
import FerryStorage

/// One connected client and what the broker has outstanding with it.
final class Peer {
    let id: PeerID
    var name = "" {
        didSet { traceName = TraceNameCache() }
    }
    /// The number of this connection's name in the trace's table (see ``Broker/traceName(of:)-(Peer)``).
    @exclusivity(unchecked) var traceName = TraceNameCache()
    /// When the last message was received from / sent to this peer.
    var lastSeen: MonotonicInstant
    var lastSent: MonotonicInstant
    /// Whether the peer greeted us or subscribed, so that it gets heartbeats.
    var isSession = false
    /// When this peer, while it had no session, was last told so (0: never; see
    /// ``Broker/tellNoSession(_:answeringHeartbeat:)``).
    var lastNoSessionNotice: MonotonicInstant?
    var subscriptions: [UInt32: Member] = [:]
    var nextSubscriptionID: UInt32 = 0
    /// Each session numbers its deliveries from a random point, so that a settlement of a
    /// delivery of an earlier session or broker run, sent by a client that has not noticed the
    /// restart yet, names no delivery of this one and is ignored instead of settling an
    /// unprocessed event. Below 2⁴⁷: clients may use the top 16 bits of 64 for their own tags.
    var nextDeliveryID = UInt64.random(in: 1 << 32..<1 << 47)
    /// Deliveries being batched for this peer during one dispatch pass.
    var pendingDeliveries = DeliveryEncoder()
    /// Unsettled deliveries, by delivery id.
    let inFlight = UInt64Map<InFlightDelivery>()
    /// The client key the connection authenticated with (the ZAP `User-Id`, Z85 text); empty
    /// without CURVE.
    var identity: [UInt8] = []
    /// What ``identity`` stands for in the credentials of ``credentialsGeneration``; nil when
    /// the key is not (or no longer) known.
    var principal: Principal? {
        didSet { traceName = TraceNameCache() }
    }
    var credentialsGeneration = -1
    /// The encoded `headers` entry that stamps ``principal`` on this connection's events.
    var principalHeader: [UInt8] = []
    /// The last topic this connection published to, and whether its principal may: most
    /// publishers use one topic per batch.
    var lastPublishTopic: [UInt8] = []
    var lastPublishAllowed = false

    init(id: PeerID, now: MonotonicInstant) {
        self.id = id
        self.lastSeen = now
        self.lastSent = now
    }
}

/// A delivery the broker sent and that is neither acked nor nacked yet.
struct InFlightDelivery {
    let member: Member
    let topic: String
    let offset: UInt64
    let key: String
    let attempt: UInt32
    let body: [UInt8]
    /// The cursor an ack settles (for a delivery of the cursor's own), found once at delivery.
    let cursor: TopicCursor?
    /// Whether the offset counts towards its cursor's outstanding set, or is a requeued dead
    /// letter's, whose offset was committed long ago.
    let origin: RetryOrigin
    let deadline: MonotonicInstant

    /// What a retry of this delivery keeps in memory. Nothing for the cursor's own: the
    /// log keeps the event while the cursor holds it, and it is read back when due, so a
    /// consumer that fails a backlog does not move the backlog into memory. A requeued dead
    /// letter keeps its body, the copy its dead-letter entry had.
    var retryBody: [UInt8]? { origin == .cursor ? nil : body }
}
