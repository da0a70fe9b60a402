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
            """)

    @OptionGroup var brokerOptions: BrokerOptions

    @Option(name: .shortAndLong, help: "Fixed rate in events per second (default: saturation).")
    var rate: Int?
    @Option(name: [.customShort("n"), .long], help: "Events (N; default 300000, or RATE × 10 at a fixed rate).")
    var count: Int?
    @Option(name: .customLong("max-lag-ms"), help: "Fixed rate: give up when this far behind (MAX_LAG).")
    var maxLagMilliseconds = 1000
    @Option(help: "Label printed as the mode (default: the fsync policy, or `memory`).")
    var mode: String?
    @OptionGroup var output: BenchOutputOptions

    func validate() throws {
        if let rate, rate < 1 { throw ValidationError("--rate must be at least 1 event per second") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    /// The peers' workload.
    var plan: LoadPlan {
        var plan = LoadPlan()
        plan.rate = rate
        plan.count = count ?? rate.map { $0 * 10 } ?? 300_000
        plan.maxLagMilliseconds = maxLagMilliseconds
        plan.exactPercentiles = true
        plan.settlePerDeliver = true
        plan.topic = "bench-\(UUID().uuidString.prefix(8).lowercased())"
        plan.connectTimeoutMilliseconds = brokerOptions.connectTimeoutMilliseconds
        return plan
    }

    func run() throws {
        let report = try BenchExecution.run(plan: plan, broker: brokerOptions, quiet: output.quiet)
        let label =
            mode
            ?? (brokerOptions.runningBroker != nil ? "running" : brokerOptions.storage == .memory ? "memory" : brokerOptions.fsync.rawValue)
        if output.json {
            print(try report.json())
        } else {
            print(report.peersLine(mode: label))
        }
        FileHandle.standardError.write(Data((report.diagnosticLines.joined(separator: "\n") + "\n").utf8))
        try BenchExecution.exit(for: report)
    }
}
