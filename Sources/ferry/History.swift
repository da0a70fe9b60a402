import ArgumentParser
import Ferry

/// `ferry history`: every stored event with a key.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show every stored event with a key, each topic in order.",
        discussion: """
            The audit trail of one entity: ferryd scans its store for events whose key is KEY, \
            across topics (sorted by name), each topic in offset order. Meant for inspection, not \
            for every request.

            Examples:
              ferry history order-42
              ferry history order-42 --json | jq '.[].type'
            """)

    @OptionGroup var options: CLIOptions

    @Argument(help: "The event key, e.g. order-42.")
    var key: String

    /// The most ferryd returns for one request.
    static let maxLimit = 10_000

    @Option(name: .long, help: "Most events to show (at most 10000).")
    var limit = 1000

    func validate() throws {
        if key.isEmpty { throw ValidationError("KEY must not be empty") }
        guard (1...Self.maxLimit).contains(limit) else {
            throw ValidationError("--limit must be between 1 and \(Self.maxLimit), got \(limit)")
        }
    }

    func run() async throws {
        let key = self.key
        let limit = self.limit
        let items = try await options.withBus { bus in try await bus.history(key: key, limit: limit) }
        if options.json {
            Output.json(items.map { EventRendering.dictionary($0.event, offset: $0.offset) })
            return
        }
        if items.isEmpty {
            Output.line("no stored events with key '\(key)'")
            return
        }
        var table = Table(["STORED AT", "TOPIC", "OFFSET", "ID", "TYPE", "PAYLOAD"], numeric: [2])
        for item in items {
            table.add(
                [
                    Output.time(item.event.storedAt), item.topic, "\(item.offset)", item.event.id, item.event.typeName,
                    Output.truncate(EventRendering.payloadText(item.event.payload), 80),
                ])
        }
        table.print()
    }
}
