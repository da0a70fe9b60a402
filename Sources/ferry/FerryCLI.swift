import ArgumentParser
import FerryBench

/// `ferry`: the operator's and developer's command line for a Ferry broker.
@main
struct FerryCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Publish, tail and inspect events on a Ferry broker, and load-test it.",
        usage: ArgumentOrder.usage,
        discussion: """
            Every command talks to ferryd at --broker, or FERRY_BROKER, or tcp://127.0.0.1:7400; \
            waits at most --timeout seconds (default 5) for each answer; and prints tables, or JSON \
            with --json. These global options go before the command or after it: \
            'ferry --broker tcp://10.0.0.5:7400 groups' is 'ferry groups --broker tcp://10.0.0.5:7400'. \
            (bench takes --broker and --json, not --timeout.)

            Exit codes:
              0   success
              1   ferryd rejected the request (invalid topic or pattern, full store, …)
              2   not found: an unknown group, or a dead-letter id that is not there
              64  bad command line (usage)
              65  bad input data: a payload or a stdin line that is not JSON
              69  ferryd unreachable, or no answer within --timeout

            Examples:
              ferry publish orders.created '{"orderID":"42"}' --key order-42
              ferry tail 'orders.>'
              ferry groups
              ferry dlq list email
              ferry --broker tcp://10.0.0.5:7400 --json stats
              FERRY_BROKER=tcp://10.0.0.5:7400 ferry stats
            """,
        subcommands: [
            PublishCommand.self, CancelCommand.self, TailCommand.self, GroupsCommand.self, DeadLettersCommand.self, ReplayCommand.self,
            HistoryCommand.self, TraceCommand.self, StatsCommand.self, KeygenCommand.self, Bench.self,
        ])

    /// Parses the command line with the global options moved after the command (``ArgumentOrder``).
    static func main() async {
        let arguments: [String]
        do {
            arguments = try ArgumentOrder.normalized(Array(CommandLine.arguments.dropFirst()))
        } catch {
            exit(withError: error)
        }
        await main(arguments)
    }
}
