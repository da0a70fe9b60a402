import ArgumentParser
import Foundation

/// `ferry bench run` (the default): a load run with any number of publishers, groups and
/// workers, at saturation or a fixed rate, for a count of events or a duration.
struct BenchRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Publish and consume a load; report throughput and latency percentiles.",
        usage: "ferry bench [run] [<options>]",
        discussion: """
            The default subcommand: 'ferry bench -n 1000' is 'ferry bench run -n 1000'. The others: \
            'peers' runs the peers' durable-ack workload and prints their result line; 'recovery' times \
            the recovery of a log. 'ferry bench peers --help' and 'ferry bench recovery --help' show theirs.

            Saturation (default): every publisher keeps up to --window events unconfirmed; latency is then \
            mostly backlog. --rate R: an open-loop schedule of R events/s across publishers; each event \
            carries its due time and latency counts from it, so a late publisher is not hidden \
            (no coordinated omission).
            """ + "\n\n" + Bench.discussion)

    @OptionGroup var brokerOptions: BrokerOptions

    @Option(name: [.customShort("p"), .long], help: "Publisher threads, each with its own connection.")
    var publishers = 1
    @Option(name: [.customShort("g"), .long], help: "Consumer groups; each gets every event.")
    var groups = 1
    @Option(name: [.customShort("w"), .long], help: "Workers (competing members) per group.")
    var workers = 1
    @Option(name: .shortAndLong, help: "Events per second in total (default: as fast as possible).")
    var rate: Int?
    @Option(name: [.customShort("s"), .long], help: "Payload bytes per event (at least 16).")
    var payload = 100
    @Option(name: [.customShort("n"), .long], help: "Events to publish (default 300000, or rate × duration).")
    var count: Int?
    @Option(name: .shortAndLong, help: "Seconds to publish for, instead of a count.")
    var duration: Double?
    @Option(help: "Most unconfirmed events per publisher.")
    var window = 1000
    @Option(name: .customLong("batch"), help: "Most events per Publish command.")
    var maxBatch = 1000
    @Option(name: .customLong("max-in-flight"), help: "Most unsettled deliveries per worker.")
    var maxInFlight = 1000
    @Option(name: .customLong("max-lag-ms"), help: "Fixed rate: give up when the publisher is this far behind.")
    var maxLagMilliseconds = 1000
    @Option(help: "Topic to publish to (default: a fresh one per run).")
    var topic: String?
    @OptionGroup var output: BenchOutputOptions

    func validate() throws {
        guard publishers >= 1, groups >= 1, workers >= 1 else {
            throw ValidationError("--publishers, --groups and --workers must be at least 1")
        }
        guard publishers <= 64, groups <= 256, workers <= 256, groups * workers <= 256 else {
            throw ValidationError("at most 64 publishers and 256 workers in all")
        }
        try Bench.validate(rate: rate, maxLagMilliseconds: maxLagMilliseconds)
        guard payload >= 16 else { throw ValidationError("--payload must be at least 16 bytes (timestamp and sequence number)") }
        guard payload <= Bench.maxPayloadBytes else {
            throw ValidationError("--payload must be at most \(Bench.maxPayloadBytes) bytes (the largest payload ferryd takes)")
        }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let duration, !(duration > 0 && duration <= 86_400) {
            throw ValidationError("--duration must be more than 0 and at most 86400 seconds (a day)")
        }
        guard count == nil || duration == nil else { throw ValidationError("give --count or --duration, not both") }
        guard window >= 1, maxBatch >= 1, maxBatch <= 4096, (1...1_000_000).contains(maxInFlight) else {
            throw ValidationError("--window must be at least 1, --batch between 1 and 4096, --max-in-flight between 1 and 1000000")
        }
    }

    /// The plan these options describe.
    var plan: LoadPlan {
        var plan = LoadPlan()
        plan.publishers = publishers
        plan.groups = groups
        plan.workersPerGroup = workers
        plan.rate = rate
        plan.payloadBytes = payload
        if let duration, let rate {
            plan.count = max(1, Int(Double(rate) * duration))
        } else if let duration {
            plan.count = nil
            plan.durationSeconds = duration
        } else {
            plan.count = count ?? 300_000
        }
        plan.window = window
        plan.maxBatch = maxBatch
        plan.maxInFlight = maxInFlight
        plan.maxLagMilliseconds = maxLagMilliseconds
        plan.settlePerDeliver = true
        plan.topic = topic ?? "bench-\(UUID().uuidString.prefix(8).lowercased())"
        plan.connectTimeoutMilliseconds = brokerOptions.connectTimeoutMilliseconds
        return plan
    }

    func run() throws {
        let report = try BenchExecution.run(plan: plan, broker: brokerOptions, quiet: output.quiet)
        if output.json {
            print(try report.json())
        } else {
            print(report.text)
        }
        try BenchExecution.exit(for: report)
    }
}
