import ArgumentParser

/// `ferry bench`: the load generator. `ferry bench` (`run`) is the general load run, `peers`
/// runs the peers' workloads and prints their result lines, `recovery` times log recovery.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load-test ferryd: throughput and publish-to-handler latency.",
        discussion: """
            Starts its own ferryd (next to this ferry; --fsync, --storage; a temporary data directory, removed \
            afterwards) unless --broker or FERRY_BROKER names a running one.

            Exit codes: 0 complete; 1 incomplete run or broker error; 3 fixed rate not sustained; 64 bad \
            arguments; 69 broker unreachable or ferryd did not start; 130 interrupted.
            """,
        subcommands: [BenchRun.self, BenchPeers.self, BenchRecovery.self],
        defaultSubcommand: BenchRun.self)
}
