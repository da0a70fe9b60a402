import FerryRuntime
import Foundation
/// What one load run does: who publishes and consumes, how fast, how much and for how long.
struct LoadPlan: Sendable, Codable {
    /// Publisher threads, each with its own connection and its own window.
    var publishers = 1
    /// Consumer groups; every group gets every event.
    var groups = 1
    /// Members per group (one thread and connection each); they compete for the group's events.
    var workersPerGroup = 1
    /// Total events per second across publishers on an open-loop schedule, or nil for as fast as
    /// the windows allow (saturation).
    var rate: Int?
    /// Bytes per event payload (at least 16: timestamp and sequence number).
    var payloadBytes = 100
    /// Events to publish in total; nil with a ``durationSeconds`` in saturation runs.
    var count: Int? = 300_000
    /// How long to publish, in seconds, when ``count`` is nil.
    var durationSeconds: Double?
    /// Most unconfirmed events per publisher (W).
    var window = 1000
    /// Most events in one Publish.
    var maxBatch = 1000
    /// Most unsettled deliveries per worker (the subscription's `max_in_flight`).
    var maxInFlight = 1000
    /// One Settle per Deliver frame (as the peers' workload asks), or one per read of the socket.
    var settlePerDeliver = true
    /// Topic to publish to; a fresh one per run by default.
    var topic = "bench"
    /// Fixed rate: how late the publisher may fall behind its schedule before the run is declared
    /// not sustained, in milliseconds.
    var maxLagMilliseconds = 1000
    /// Fixed rate: delay between the publisher's start and the first due time, in milliseconds.
    var scheduleDelayMilliseconds = 1
    /// Keep every latency, for exact nearest-rank percentiles (the peers' definition); otherwise
    /// only the HdrHistogram (3 significant digits).
    var exactPercentiles = false
    /// How long to wait for the broker's first answer, in milliseconds.
    var connectTimeoutMilliseconds = 5000
    /// Give up when no event is confirmed or consumed for this long, in milliseconds.
    var stallTimeoutMilliseconds = 30_000

    /// Events publisher `index` sends in a count-bounded run: every event `g` with
    /// `g % publishers == index`.
    func share(of index: Int) -> Int? {
        count.map { total in (total - index + publishers - 1) / publishers }
    }

    /// The scheduled time of global event `g`, relative to the schedule's start.
    func dueOffset(ofEvent g: UInt64) -> Nanoseconds {
        guard let rate else { return .zero }
        return Nanoseconds(value: g &* Nanoseconds.seconds(1).value / UInt64(rate))
    }
}

extension LoadPlan {
    /// The peers' "durable-ack" workload (../shared/peers/README.md): one publisher, one group of
    /// one member settling each Deliver, exact percentiles, a fresh topic; at `rate` events/s or,
    /// with nil, at saturation.
    static func peers(rate: Int?, count: Int, maxLagMilliseconds: Int) -> LoadPlan {
        var plan = LoadPlan()
        plan.rate = rate
        plan.count = count
        plan.maxLagMilliseconds = maxLagMilliseconds
        plan.exactPercentiles = true
        plan.settlePerDeliver = true
        plan.topic = "bench-\(UUID().uuidString.prefix(8).lowercased())"
        return plan
    }
}
