import ArgumentParser
import Ferry
import Foundation

/// `ferry trace`: the recorded life of an event, of a key's events or of a saga, as a tree.
struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Show what ferryd did with an event and with the events it caused.",
        discussion: """
            Reads ferryd's trace log: when each event was published and by whom, then per \
            consumer group every delivery (member, attempt), its outcome (ack, nack with the \
            handler's error, ack timeout, member lost), each retry scheduled, dead letters, \
            requeues and replays; then the events it caused (their causation id), recursively. \
            Times are relative to the first publish.

            Examples:
              ferry trace 3f2c9a1e-…
              ferry trace --key order-42
              ferry trace --correlation 3f2c9a1e-… --json | jq '.events[].type'
            """)

    @OptionGroup var options: CLIOptions

    @Argument(help: "The event id to trace.")
    var eventID: String?

    @Option(name: .long, help: "Trace every event with this key (and what they caused).")
    var key: String?

    @Option(name: .long, help: "Trace every event of this correlation id: a whole saga.")
    var correlation: String?

    @Option(name: .long, help: "Most events to fetch (pages of 500).")
    var maxEvents = 10_000

    func validate() throws {
        let given = [eventID, key, correlation].compactMap { $0 }
        guard given.count == 1 else { throw ValidationError("name one of EVENT-ID, --key or --correlation") }
        if given[0].isEmpty { throw ValidationError("the id, key or correlation id must not be empty") }
        guard (1...1_000_000).contains(maxEvents) else { throw ValidationError("--max-events must be between 1 and 1000000") }
    }

    func run() async throws {
        let selector: EventTrace.Selector =
            if let eventID { .event(id: eventID) } else if let key { .key(key) } else { .correlation(correlation ?? "") }
        let maxEvents = self.maxEvents
        let trace = try await options.withBus { bus in try await bus.trace(selector, maxEvents: maxEvents) }
        if options.json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            Output.line(String(decoding: try encoder.encode(trace), as: UTF8.self))
            return
        }
        if trace.events.isEmpty {
            let what: String =
                switch selector {
                case .event(let id): "event '\(id)'"
                case .key(let key): "key '\(key)'"
                case .correlation(let correlation): "correlation id '\(correlation)'"
                }
            throw CLIFailure(
                ExitCodes.notFound,
                "no trace of \(what): never published, not sampled (ferryd traces \(trace.sampling)), or past the trace log's retention"
            ).report()
        }
        Output.text(trace.timeline)
    }
}
