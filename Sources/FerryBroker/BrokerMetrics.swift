import FerryProtocol
import Metrics

/// The broker's counters and gauges (swift-metrics; exported by whichever backend is bootstrapped).
struct BrokerMetrics {
    let published = Counter(label: "ferry_events_published_total")
    let duplicates = Counter(label: "ferry_events_duplicate_total")
    let delivered = Counter(label: "ferry_deliveries_total")
    let redelivered = Counter(label: "ferry_redeliveries_total")
    let acked = Counter(label: "ferry_acks_total")
    let nacked = Counter(label: "ferry_nacks_total")
    let ackTimeouts = Counter(label: "ferry_ack_timeouts_total")
    let deadLettered = Counter(label: "ferry_dead_lettered_total")
    let ephemeralDropped = Counter(label: "ferry_ephemeral_dropped_total")
    let unknownSettles = Counter(label: "ferry_settle_unknown_total")
    let peersExpired = Counter(label: "ferry_peers_expired_total")
    let peersDisconnected = Counter(label: "ferry_peers_disconnected_total")
    /// Heartbeats telling a connection it has no session (a restart, or a session that ended).
    let noSessionNotices = Counter(label: "ferry_no_session_notices_total")
    /// Times the broker loop itself did not run for over 250 ms (see `housekeep`).
    let loopStalls = Counter(label: "ferry_loop_stalls_total")
    let sendDropped = Counter(label: "ferry_send_dropped_total")
    let retentionDropped = Counter(label: "ferry_retention_dropped_unconsumed_total")
    let stateSaveFailures = Counter(label: "ferry_group_state_save_failures_total")
    let storedBytes = Gauge(label: "ferry_stored_bytes")
    let inFlight = Gauge(label: "ferry_in_flight")
    let peers = Gauge(label: "ferry_peers")
    private var errorCounters: [Int: Counter] = [:]
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
        let counter = Counter(label: label, dimensions: [("code", code.name)])
        cache[code.rawValue] = counter
        return counter
    }
}
