import ArgumentParser
import Foundation

/// `ferry bench sweep`: the peers' fixed-rate workload at a series of rates for each fsync
/// policy, then their saturation workload: the points of a latency-versus-rate curve, printed as
/// the peers' result lines so that `Benchmarks/latency-curve` can draw Ferry beside them.
struct BenchSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Latency against rate: the peers' workload at each rate and fsync policy, then at saturation.",
        discussion: """
            For each policy of --fsync, and each rate of --rates in increasing order, starts a fresh ferryd \
            (--ferryd, or the one next to this ferry) and runs `ferry bench peers --rate RATE` for --duration \
            seconds (N = RATE × duration); then, unless --no-saturation, the saturation workload (N = 300000). \
            Prints one peers' result line per run as it ends (`ferry POLICY RATE p50 p90 p99 p999 max achieved` \
            for a rate, `ferry POLICY publish_eps e2e_eps p50 p99 p999` for saturation). A rate that is not \
            sustained prints NA latencies with the achieved rate, and the policy's higher rates are skipped \
            (a `#` line says so). Exits 0 when every run printed its line and every sustained run was \
            complete, 1 otherwise.
            """)

    @Option(help: ArgumentHelp("Fixed rates in events per second, comma-separated (empty: saturation only).", valueName: "rates"))
    var rates = "1000,5000,10000,25000,50000,100000,200000"

    @Option(help: ArgumentHelp("fsync policies of the ferryd it starts, comma-separated.", valueName: "policies"))
    var fsync = "never,batch,always"

    @Option(help: "Seconds of load per rate (N = rate × duration).")
    var duration = 10

    @Flag(help: "Leave out the saturation run of each policy.")
    var noSaturation = false

    @Option(name: .customLong("max-lag-ms"), help: "Give up on a rate when the publisher is this far behind.")
    var maxLagMilliseconds = 1000

    @Option(help: ArgumentHelp("The ferryd executable to start (default: the one next to this ferry).", valueName: "path"))
    var ferryd: String?

    var parsedRates: [Int] { rates.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.sorted() }
    var parsedPolicies: [FsyncPolicy] { fsync.split(separator: ",").compactMap { FsyncPolicy(rawValue: $0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        let rateFields = rates.split(separator: ",")
        guard parsedRates.count == rateFields.count else {
            throw ValidationError("--rates is a comma-separated list of whole events per second, such as 1000,10000")
        }
        if rateFields.isEmpty && noSaturation { throw ValidationError("no rates and --no-saturation leave nothing to run") }
        guard rateFields.count <= 64 else { throw ValidationError("--rates takes at most 64 rates") }
        for rate in parsedRates { try Bench.validate(rate: rate, maxLagMilliseconds: maxLagMilliseconds) }
        let policyFields = fsync.split(separator: ",")
        guard !policyFields.isEmpty, parsedPolicies.count == policyFields.count else {
            throw ValidationError("--fsync is a comma-separated list of never, batch and always")
        }
        guard (1...3600).contains(duration) else { throw ValidationError("--duration must be between 1 and 3600 seconds") }
        guard parsedRates.allSatisfy({ $0.multipliedReportingOverflow(by: duration).partialValue <= 100_000_000 }) else {
            throw ValidationError("a rate × --duration must stay at most 100000000 events")
        }
    }

    func run() throws {
        print("# system mode rate p50_us p90_us p99_us p999_us max_us achieved_eps   (fixed rate: N = RATE x \(duration))")
        print("# system mode publish_eps e2e_eps p50_us p99_us p999_us                   (saturation: N = 300000)")
        var failures = 0
        for policy in parsedPolicies {
            let broker = try BrokerOptions.parse(["--spawn", "--fsync", policy.rawValue] + (ferryd.map { ["--ferryd", $0] } ?? []))
            for rate in parsedRates {
                var plan = LoadPlan.peers(rate: rate, count: rate * duration, maxLagMilliseconds: maxLagMilliseconds)
                plan.connectTimeoutMilliseconds = broker.connectTimeoutMilliseconds
                guard let report = try runOnce(plan, broker) else {
                    failures += 1
                    emit("ferry \(policy.rawValue) \(rate) NA NA NA NA NA NA")
                    continue
                }
                emit(report.peersLine(mode: policy.rawValue))
                let notSustained = report.fixedRate?.notSustained == true
                if !report.complete && !notSustained { failures += 1 }
                if notSustained {
                    emit("# \(policy.rawValue): \(rate) events/s not sustained; higher rates skipped")
                    break
                }
            }
            guard !noSaturation else { continue }
            var plan = LoadPlan.peers(rate: nil, count: 300_000, maxLagMilliseconds: maxLagMilliseconds)
            plan.connectTimeoutMilliseconds = broker.connectTimeoutMilliseconds
            if let report = try runOnce(plan, broker) {
                emit(report.peersLine(mode: policy.rawValue))
                if !report.complete { failures += 1 }
            } else {
                failures += 1
                emit("ferry \(policy.rawValue) NA NA NA NA NA")
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    /// One run with its diagnostics on stderr; nil when it could not run (the reason is on
    /// stderr). An interrupt ends the sweep.
    private func runOnce(_ plan: LoadPlan, _ broker: BrokerOptions) throws -> LoadReport? {
        let report: LoadReport
        do {
            report = try BenchExecution.run(plan: plan, broker: broker, quiet: true)
        } catch let exit as ExitCode where exit == ExitCode(130) {
            throw exit
        } catch {
            return nil
        }
        report.writeDiagnostics()
        return report
    }

    /// Prints a result line at once, also into a pipe.
    private func emit(_ line: String) {
        print(line)
        fflush(nil)
    }
}
