import ArgumentParser
import Foundation

/// `ferry bench peers`: the peers' "durable-ack" workloads (../shared/peers/README.md), exactly
/// as defined there, printing their result line so that Ferry sits beside NATS, Redis and
/// RabbitMQ measured in the same session.
struct BenchPeers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers",
        abstract: "The peers' durable-ack workload (saturation, or fixed rate with --rate); prints their result line.",
        discussion: """
            One publisher thread (at most W = 1000 unconfirmed) and one consumer thread (one member of one group, \
            max_in_flight 1000, one Settle per Deliver of up to 256), each with its own connection; 100-byte \
            payloads carrying the timestamp and sequence number; percentiles nearest-rank over every event.
            Saturation: N = 300000, prints `ferry MODE publish_eps e2e_eps p50_us p99_us p999_us`.
            Fixed rate: N = RATE × 10, the schedule starts 1 ms after the publisher, latency from each event's \
            due time, prints `ferry MODE rate p50_us p90_us p99_us p999_us max_us achieved_eps`; more than \
            --max-lag-ms behind prints NA latencies and exits 3.
            MODE is what was loaded: the fsync policy of the ferryd the bench started (or `memory`), or \
            `external` for a running broker (--broker, FERRY_BROKER), whose policy the bench cannot see; \
            --mode names it instead. A `# broker` line on stderr says which broker it was.
            """ + "\n\n" + Bench.discussion)

    @OptionGroup var brokerOptions: BrokerOptions

    @Option(name: .shortAndLong, help: "Fixed rate in events per second (default: saturation).")
    var rate: Int?
    @Option(name: [.customShort("n"), .long], help: "Events (N; default 300000, or RATE × 10 at a fixed rate).")
    var count: Int?
    @Option(name: .customLong("max-lag-ms"), help: "Fixed rate: give up when this far behind (MAX_LAG).")
    var maxLagMilliseconds = 1000
    @Option(help: "Label printed as the mode (default: the started ferryd's fsync policy or `memory`, else `external`).")
    var mode: String?
    @OptionGroup var output: BenchOutputOptions

    func validate() throws {
        try Bench.validate(rate: rate, maxLagMilliseconds: maxLagMilliseconds)
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let mode, mode.isEmpty || mode.contains(where: \.isWhitespace) {
            throw ValidationError("--mode is one field of the result line: no spaces, not empty")
        }
    }

    /// The peers' workload.
    var plan: LoadPlan {
        var plan = LoadPlan.peers(rate: rate, count: count ?? rate.map { $0 * 10 } ?? 300_000, maxLagMilliseconds: maxLagMilliseconds)
        plan.connectTimeoutMilliseconds = brokerOptions.connectTimeoutMilliseconds
        return plan
    }

    func run() throws {
        let report = try BenchExecution.run(plan: plan, broker: brokerOptions, quiet: output.quiet)
        if output.json {
            print(try report.json())
        } else {
            print(report.peersLine(mode: mode ?? report.broker.mode))
        }
        report.writeDiagnostics()
        try BenchExecution.exit(for: report)
    }
}
