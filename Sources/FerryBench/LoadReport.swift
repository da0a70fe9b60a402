import FerryRuntime
import Foundation

/// The result of one load run: the document `--json` prints, and what the human and the peers'
/// result lines are rendered from. Times are in seconds, rates in events per second, latencies
/// in microseconds.
struct LoadReport: Codable, Sendable {
    struct Broker: Codable, Sendable {
        var endpoint: String
        /// True when the bench started this ferryd for the run.
        var started: Bool
        var fsync: FsyncPolicy?
        var storage: StorageKind?
        var peakResidentMegabytes: Int?
        /// CPU a started ferryd used during the run, in seconds.
        var cpuSeconds: Double?
        /// Whether the connections were CURVE (encrypted and authenticated).
        var curve: Bool? = nil
    }

    struct Events: Codable, Sendable {
        var published = 0
        var confirmed = 0
        var rejected = 0
        /// Distinct events each group received.
        var consumedPerGroup: [Int] = []
        var duplicates = 0
        var malformed = 0
        /// Deliver frames read, and the average deliveries per frame.
        var batches = 0
        var averageBatch = 0.0
        var firstRejection: String?
    }

    struct Throughput: Codable, Sendable {
        /// Events sent / (last send − first send).
        var publish = 0.0
        /// Events confirmed / (last confirm − first send).
        var confirm = 0.0
        /// Events every group received / (final ack processed − first send).
        var endToEnd = 0.0
        /// Deliveries handled across groups per second (end to end × groups).
        var deliveries = 0.0
    }

    struct Latency: Codable, Sendable {
        var p50 = 0.0
        var p90 = 0.0
        var p99 = 0.0
        var p999 = 0.0
        var max = 0.0
        /// `hdrhistogram` (3 significant digits) or `exact` (nearest rank over every value).
        var method = "hdrhistogram"
    }

    struct FixedRate: Codable, Sendable {
        var rate: Int
        /// Events received / (receive time of the last event − the schedule's start).
        var achieved = 0.0
        /// The publisher fell more than the allowed lag behind and stopped sending.
        var notSustained = false
        /// Below 99 % of the rate: a backlog grew during the run.
        var fellBehind = false
        /// How late events were sent after their due time, p50 and p99, in microseconds.
        var sendLagP50 = 0.0
        var sendLagP99 = 0.0
    }

    var plan: LoadPlan
    var broker: Broker
    var events = Events()
    var seconds = 0.0
    var throughput = Throughput()
    /// Publish-to-handler latency; nil when nothing was received or the rate was not sustained.
    var latency: Latency?
    var fixedRate: FixedRate?
    /// CPU the generator (this process) used during the run, in seconds.
    var generatorCPUSeconds = 0.0
    /// Every confirmed event reached every group exactly once, and nothing was rejected.
    var complete = false

    init(plan: LoadPlan, broker: Broker, outcomes: LoadRun.Outcomes) {
        self.plan = plan
        self.broker = broker
        let publishers = outcomes.publishers
        let consumers = outcomes.consumers
        events.published = publishers.reduce(0) { $0 + $1.sent }
        events.confirmed = publishers.reduce(0) { $0 + $1.confirmed }
        events.rejected = publishers.reduce(0) { $0 + $1.rejected }
        events.firstRejection = publishers.lazy.compactMap(\.firstRejection).first
        var latencies = LatencyRecorder(keepValues: plan.exactPercentiles)
        var perGroup = [SequenceSet](repeating: SequenceSet(), count: plan.groups)
        for consumer in consumers {
            events.duplicates += consumer.duplicates + perGroup[consumer.group].formUnion(consumer.sequences)
            events.malformed += consumer.malformed
            events.batches += consumer.batches
            latencies.merge(consumer.latencies)
        }
        events.consumedPerGroup = perGroup.map(\.count)
        let received = consumers.reduce(0) { $0 + $1.received }
        events.averageBatch = Double(received) / Double(max(events.batches, 1))
        let consumedEvents = events.consumedPerGroup.min() ?? 0
        complete =
            !outcomes.notSustained && events.rejected == 0 && events.confirmed == events.published
            && events.consumedPerGroup.allSatisfy { $0 == events.confirmed } && events.malformed == 0

        let firstSend = publishers.compactMap(\.firstSend).min()
        let lastSend = publishers.compactMap(\.lastSend).max()
        let lastConfirm = publishers.compactMap(\.lastConfirm).max()
        let finalAck = consumers.compactMap(\.finalAckProcessed).max()
        /// Seconds from the first send to `end`; zero without both, or with `end` not after it.
        func secondsOfSending(until end: MonotonicInstant?) -> Double {
            guard let firstSend, let end else { return 0 }
            return (end - firstSend).seconds
        }
        func rate(_ count: Int, until end: MonotonicInstant?) -> Double {
            let seconds = secondsOfSending(until: end)
            return seconds > 0 ? Double(count) / seconds : 0
        }
        seconds = secondsOfSending(until: finalAck)
        throughput.publish = rate(events.published, until: lastSend)
        throughput.confirm = rate(events.confirmed, until: lastConfirm)
        throughput.endToEnd = rate(consumedEvents, until: finalAck)
        throughput.deliveries = throughput.endToEnd * Double(plan.groups)
        generatorCPUSeconds = outcomes.generatorCPUSeconds

        if let rateTarget = plan.rate {
            fixedRate = Self.fixedRate(rateTarget, consumedEvents: consumedEvents, outcomes: outcomes)
        }
        if !outcomes.notSustained, let values = latencies.percentiles([50, 90, 99, 99.9, 100]) {
            latency = Latency(
                p50: Double(values[0]) / 1000, p90: Double(values[1]) / 1000, p99: Double(values[2]) / 1000,
                p999: Double(values[3]) / 1000, max: Double(values[4]) / 1000, method: plan.exactPercentiles ? "exact" : "hdrhistogram")
        }
    }

    /// How a fixed-rate run kept up: the rate achieved and the publishers' lag behind schedule.
    private static func fixedRate(_ rateTarget: Int, consumedEvents: Int, outcomes: LoadRun.Outcomes) -> FixedRate {
        var fixed = FixedRate(rate: rateTarget, notSustained: outcomes.notSustained)
        if let lastReceive = outcomes.consumers.compactMap(\.lastReceive).max(), lastReceive > outcomes.scheduleStart {
            fixed.achieved = Double(consumedEvents) / (lastReceive - outcomes.scheduleStart).seconds
        }
        fixed.fellBehind = fixed.achieved < 0.99 * Double(rateTarget)
        var lag = LatencyRecorder(keepValues: false)
        for publisher in outcomes.publishers { lag.merge(publisher.sendLag) }
        if let values = lag.percentiles([50, 99]) {
            fixed.sendLagP50 = Double(values[0]) / 1000
            fixed.sendLagP99 = Double(values[1]) / 1000
        }
        return fixed
    }

    /// The document `--json` prints.
    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
