public import ArgumentParser
import FerryProtocol

/// `ferry bench`: the load generator. `ferry bench` (`run`) is the general load run, `peers`
/// runs the peers' workloads and prints their result lines, `sweep` runs them at a series of
/// rates (the latency-versus-rate curve), `recovery` times log recovery (in a ferryd it starts).
/// `ferry bench --help` shows `run`'s help (the ferry command line sees to it), which lists the
/// others.
public struct Bench: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test ferryd: throughput and publish-to-handler latency.",
        discussion: discussion,
        subcommands: [BenchRun.self, BenchPeers.self, BenchSweep.self, BenchRecovery.self],
        defaultSubcommand: BenchRun.self)

    /// What `run` and `peers` share: the broker they load and their exit codes.
    static let discussion = """
        Starts its own ferryd (next to this ferry; --fsync, --storage; a temporary data directory, removed \
        afterwards) unless --broker or FERRY_BROKER names a running one.

        Exit codes: 0 complete; 1 incomplete run or broker error; 3 fixed rate not sustained; 64 bad \
        arguments; 69 broker unreachable or ferryd did not start; 130 interrupted.
        """

    /// Bounds of the options `run` and `peers` share (beyond them the arithmetic would overflow,
    /// or nothing could be measured).
    static let maxRate = 10_000_000
    static let maxLagMilliseconds = 3_600_000

    static func validate(rate: Int?, maxLagMilliseconds: Int) throws {
        if let rate, !(1...maxRate).contains(rate) {
            throw ValidationError("--rate must be between 1 and \(maxRate) events per second")
        }
        guard (1...Self.maxLagMilliseconds).contains(maxLagMilliseconds) else {
            throw ValidationError("--max-lag-ms must be between 1 and \(Self.maxLagMilliseconds) (an hour)")
        }
    }

    /// The largest payload ferryd accepts by default.
    static let maxPayloadBytes = ProtocolLimits().maxPayloadBytes

    public init() {}
}
