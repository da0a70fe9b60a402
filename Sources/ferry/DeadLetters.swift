import ArgumentParser
import Ferry

/// `ferry dlq`: a group's dead-letter queue.
struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "List, show, requeue and purge a group's dead letters.",
        discussion: """
            A group's dead-letter queue holds the events its handlers rejected as poison or that \
            failed every attempt. A group ferryd does not know exits with code 2.

            Examples:
              ferry dlq list email
              ferry dlq show email 3
              ferry dlq requeue email --id 3 --id 4
              ferry dlq purge email --all
            """,
        subcommands: [List.self, Show.self, Requeue.self, Purge.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a group's dead letters, oldest first.",
            discussion: "Page with --after, passing the last id shown.")

        @OptionGroup var options: CLIOptions

        @Argument(help: "The consumer group.")
        var group: String

        /// The most ferryd returns for one request.
        static let maxLimit = 1000

        @Option(name: .long, help: "Most entries to show (at most 1000).")
        var limit = 100

        @Option(name: .long, help: "Show entries with ids greater than this.")
        var after: UInt64 = 0

        func validate() throws {
            guard (1...Self.maxLimit).contains(limit) else {
                throw ValidationError("--limit must be between 1 and \(Self.maxLimit), got \(limit)")
            }
        }

        func run() async throws {
            let entries = try await options.withBus { bus in try await bus.deadLetters(group: group, after: after, limit: limit) }
            if options.json {
                Output.json(entries.map { DeadLettersCommand.dictionary($0, full: false) })
                return
            }
            if entries.isEmpty {
                Output.line("no dead letters in group '\(group)'")
                return
            }
            var table = Table(
                ["ID", "TOPIC", "OFFSET", "EVENT ID", "REASON", "ATTEMPTS", "DEAD-LETTERED AT", "LAST ERROR"], numeric: [0, 2, 5])
            for entry in entries {
                table.add(
                    [
                        "\(entry.id)", entry.event.topic, "\(entry.offset)", entry.event.id, DeadLettersCommand.reason(entry.reason),
                        "\(entry.attempts)", Output.time(entry.deadLetteredAt), Output.truncate(entry.lastError, 60),
                    ])
            }
            table.print()
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one dead letter in full: why it failed, the envelope, headers and payload.")

        @OptionGroup var options: CLIOptions

        @Argument(help: "The consumer group.")
        var group: String

        @Argument(help: "The dead letter's id (from 'ferry dlq list').")
        var id: UInt64

        func run() async throws {
            let id = self.id
            let group = self.group
            let entry = try await options.withBus { bus in
                guard let entry = try await bus.deadLetters(group: group, after: id &- 1, limit: 1).first, entry.id == id else {
                    throw CLIFailure(ExitCodes.notFound, "group '\(group)' has no dead letter with id \(id)")
                }
                return entry
            }
            if options.json {
                Output.json(DeadLettersCommand.dictionary(entry, full: true))
                return
            }
            Output.line("dead letter:    \(entry.id) of group \(entry.group)")
            Output.line("reason:         \(DeadLettersCommand.reason(entry.reason)) after \(entry.attempts) attempt(s)")
            Output.line("last error:     \(entry.lastError)")
            Output.line("dead-lettered:  \(Output.time(entry.deadLetteredAt))")
            for line in EventRendering.details(entry.event, offset: entry.offset) { Output.line(line) }
        }
    }

    static func reason(_ reason: DeadLetterEntry.Reason) -> String {
        switch reason {
        case .maxAttempts: "max-attempts"
        case .rejected: "rejected"
        }
    }

    static func dictionary(_ entry: DeadLetterEntry, full: Bool) -> [String: Any] {
        var dictionary: [String: Any] = [
            "id": entry.id, "group": entry.group, "topic": entry.event.topic, "offset": entry.offset, "event_id": entry.event.id,
            "reason": reason(entry.reason), "attempts": entry.attempts, "last_error": entry.lastError,
            "dead_lettered_at": Output.time(entry.deadLetteredAt),
        ]
        if full { dictionary["event"] = EventRendering.dictionary(entry.event, offset: entry.offset) }
        return dictionary
    }
}
