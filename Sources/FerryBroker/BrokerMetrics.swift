import FerryProtocol
import Metrics

/// The broker's counters and gauges (swift-metrics), made by `factory`: the bootstrapped
/// backend's in ferryd, a test's own in an embedded broker.
struct BrokerMetrics {
    private let factory: any MetricsFactory
    let published: Counter
    let duplicates: Counter
    let delivered: Counter
    let redelivered: Counter
    let acked: Counter
    let nacked: Counter
    let ackTimeouts: Counter
    let deadLettered: Counter
    let ephemeralDropped: Counter
    let unknownSettles: Counter
    let peersExpired: Counter
    let peersDisconnected: Counter
    /// Heartbeats telling a connection it has no session (a restart, or a session that ended).
    let noSessionNotices: Counter
    /// Times the broker loop itself did not run for over 250 ms (see `housekeep`).
    let loopStalls: Counter
    let sendDropped: Counter
    let retentionDropped: Counter
    let stateSaveFailures: Counter
    let storedBytes: Gauge
    let inFlight: Gauge
    let peers: Gauge

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        published = Counter(label: "ferry_events_published_total", factory: factory)
        duplicates = Counter(label: "ferry_events_duplicate_total", factory: factory)
        delivered = Counter(label: "ferry_deliveries_total", factory: factory)
        redelivered = Counter(label: "ferry_redeliveries_total", factory: factory)
        acked = Counter(label: "ferry_acks_total", factory: factory)
        nacked = Counter(label: "ferry_nacks_total", factory: factory)
        ackTimeouts = Counter(label: "ferry_ack_timeouts_total", factory: factory)
        deadLettered = Counter(label: "ferry_dead_lettered_total", factory: factory)
        ephemeralDropped = Counter(label: "ferry_ephemeral_dropped_total", factory: factory)
        unknownSettles = Counter(label: "ferry_settle_unknown_total", factory: factory)
        peersExpired = Counter(label: "ferry_peers_expired_total", factory: factory)
        peersDisconnected = Counter(label: "ferry_peers_disconnected_total", factory: factory)
        noSessionNotices = Counter(label: "ferry_no_session_notices_total", factory: factory)
        loopStalls = Counter(label: "ferry_loop_stalls_total", factory: factory)
        sendDropped = Counter(label: "ferry_send_dropped_total", factory: factory)
        retentionDropped = Counter(label: "ferry_retention_dropped_unconsumed_total", factory: factory)
        stateSaveFailures = Counter(label: "ferry_group_state_save_failures_total", factory: factory)
        storedBytes = Gauge(label: "ferry_stored_bytes", factory: factory)
        inFlight = Gauge(label: "ferry_in_flight", factory: factory)
        peers = Gauge(label: "ferry_peers", factory: factory)
    }

    private var errorCounters: [Int: Counter] = [:]
    private var refusalCounters: [String: Counter] = [:]

    /// Counts a connection or command refused for want of identity or grant, by principal
    /// (`unknown` for a key the credentials do not hold) and reason. Principals come from the
    /// operator's credentials file, so the labels stay few.
    mutating func countRefusal(principal: String, reason: String) {
        let name = principal + "\u{0}" + reason
        if let counter = refusalCounters[name] { return counter.increment() }
        let counter = Counter(label: "ferry_auth_refusals_total", dimensions: [("principal", principal), ("reason", reason)], factory: factory)
        refusalCounters[name] = counter
        counter.increment()
    }

    private var rejectCounters: [Int: Counter] = [:]

    /// Counts a command answered with `Error`, by code.
    mutating func countError(_ code: ErrorCode) {
        counter(&errorCounters, "ferry_protocol_errors_total", code).increment()
    }

    /// Counts a published event that was rejected, by code.
    mutating func countRejection(_ code: ErrorCode) {
        counter(&rejectCounters, "ferry_events_rejected_total", code).increment()
    }

    private func counter(_ cache: inout [Int: Counter], _ label: String, _ code: ErrorCode) -> Counter {
        if let counter = cache[code.rawValue] { return counter }
        let counter = Counter(label: label, dimensions: [("code", code.name)], factory: factory)
        cache[code.rawValue] = counter
        return counter
    }
}
