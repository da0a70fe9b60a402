import FerryProtocol
import Metrics

/// The broker's counters and gauges (swift-metrics), made by `factory`: the bootstrapped
/// backend's in ferryd, a test's own in an embedded broker.
struct BrokerMetrics {
    private let factory: any MetricsFactory
    let published: Counter
    /// Events confirmed to their publishers (repeats included), once durable.
    let confirmed: Counter
    /// Dead letters put back for redelivery.
    let requeued: Counter
    /// From a Publish's arrival to its confirm, for those held for an fsync.
    let publishToConfirm: Timer
    /// Each fdatasync of the event log's files.
    let fsyncDuration: Timer
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
    /// 1 while the broker takes publishes (not refusing for the store, not stopping), else 0:
    /// `/readyz` as a metric, for alerts.
    let ready: Gauge
    let inFlight: Gauge
    let peers: Gauge
    /// The trace log: records written, dropped (the writer was behind), deleted by retention,
    /// failed to write; its size; searches asked for.
    let traceWritten: Counter
    let traceDropped: Counter
    let traceExpired: Counter
    let traceFailed: Counter
    let traceStoredBytes: Gauge
    let traceSearches: Counter
    /// Scheduled events: stored for later, appended when due (and how late), cancelled; and
    /// how many wait.
    let scheduled: Counter
    let scheduledFired: Counter
    let scheduledCancelled: Counter
    let scheduleLateness: Timer
    let scheduledWaiting: Gauge

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        published = Counter(label: "ferry_events_published_total", factory: factory)
        confirmed = Counter(label: "ferry_events_confirmed_total", factory: factory)
        scheduled = Counter(label: "ferry_events_scheduled_total", factory: factory)
        scheduledFired = Counter(label: "ferry_scheduled_events_fired_total", factory: factory)
        scheduledCancelled = Counter(label: "ferry_scheduled_events_cancelled_total", factory: factory)
        scheduleLateness = Timer(label: "ferry_schedule_lateness_seconds", preferredDisplayUnit: .seconds, factory: factory)
        scheduledWaiting = Gauge(label: "ferry_scheduled_events", factory: factory)
        requeued = Counter(label: "ferry_dead_letters_requeued_total", factory: factory)
        publishToConfirm = Timer(label: "ferry_publish_to_confirm_seconds", preferredDisplayUnit: .seconds, factory: factory)
        fsyncDuration = Timer(label: "ferry_fsync_duration_seconds", preferredDisplayUnit: .seconds, factory: factory)
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
        ready = Gauge(label: "ferry_ready", factory: factory)
        inFlight = Gauge(label: "ferry_in_flight", factory: factory)
        peers = Gauge(label: "ferry_peers", factory: factory)
        traceWritten = Counter(label: "ferry_trace_records_written_total", factory: factory)
        traceDropped = Counter(label: "ferry_trace_records_dropped_total", factory: factory)
        traceExpired = Counter(label: "ferry_trace_records_expired_total", factory: factory)
        traceFailed = Counter(label: "ferry_trace_records_failed_total", factory: factory)
        traceStoredBytes = Gauge(label: "ferry_trace_stored_bytes", factory: factory)
        traceSearches = Counter(label: "ferry_trace_searches_total", factory: factory)
        // The store's refusals exist from the start, at 0, so that an alert on their increase
        // sees the first one.
        for code in [ErrorCode.storageFull, .storageFailure] { _ = counter(&rejectCounters, "ferry_events_rejected_total", code) }
    }

    /// The gauges of one durable group: members, in flight, retries waiting, dead letters, and
    /// lag per topic.
    final class GroupGauges {
        let members: Gauge
        let inFlight: Gauge
        let retries: Gauge
        let deadLetters: Gauge
        var lag: [String: Gauge] = [:]

        init(group: String, factory: any MetricsFactory) {
            let dimensions = [("group", group)]
            members = Gauge(label: "ferry_consumer_group_members", dimensions: dimensions, factory: factory)
            inFlight = Gauge(label: "ferry_consumer_group_in_flight_messages", dimensions: dimensions, factory: factory)
            retries = Gauge(label: "ferry_consumer_group_retry_queue_messages", dimensions: dimensions, factory: factory)
            deadLetters = Gauge(label: "ferry_consumer_group_dead_letter_messages", dimensions: dimensions, factory: factory)
        }
    }
    private var groupGauges: [String: GroupGauges] = [:]

    /// The gauges of `group`, made on first use. Durable groups only: they are bounded by
    /// max_groups and live on, where tails come and go.
    mutating func gauges(ofGroup group: String) -> GroupGauges {
        if let gauges = groupGauges[group] { return gauges }
        let gauges = GroupGauges(group: group, factory: factory)
        groupGauges[group] = gauges
        return gauges
    }

    /// The lag gauge of `group` on `topic`.
    func lagGauge(_ gauges: GroupGauges, group: String, topic: String) -> Gauge {
        if let gauge = gauges.lag[topic] { return gauge }
        let gauge = Gauge(label: "ferry_consumer_group_lag_messages", dimensions: [("group", group), ("topic", topic)], factory: factory)
        gauges.lag[topic] = gauge
        return gauge
    }

    private var topicBytes: [String: Gauge] = [:]

    /// The stored-bytes gauge of `topic` (topics are bounded by max_topics).
    mutating func storedBytesGauge(topic: String) -> Gauge {
        if let gauge = topicBytes[topic] { return gauge }
        let gauge = Gauge(label: "ferry_topic_stored_bytes", dimensions: [("topic", topic)], factory: factory)
        topicBytes[topic] = gauge
        return gauge
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
