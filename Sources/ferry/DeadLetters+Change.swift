import ArgumentParser
import Ferry

/// Which dead letters `requeue` and `purge` act on.
struct DeadLetterSelection: ParsableArguments {
    @Argument(help: "The consumer group.")
    var group: String

    @Option(name: .long, help: "A dead letter's id, repeatable.")
    var id: [UInt64] = []

    @Flag(name: .long, help: "Every dead letter of the group.")
    var all = false

    func validate() throws {
        if all == !id.isEmpty { throw ValidationError("name the dead letters with --id (repeatable), or pass --all") }
    }

    /// Runs `change` (requeue or purge) and reports how many entries it touched; exits 2 when
    /// some named ids were not in the queue.
    func apply(_ verb: String, options: CLIOptions, _ change: @escaping (EventBus, String, [UInt64]?) async throws -> Int) async throws {
        let ids = all ? nil : id
        let group = self.group
        let count = try await options.withBus { bus in try await change(bus, group, ids) }
        if options.json {
            Output.json(["group": group, verb: count] as [String: Any])
        } else {
            Output.line("\(verb) \(count) dead letter\(count == 1 ? "" : "s") of group '\(group)'")
        }
        if let ids, count < Set(ids).count {
            throw CLIFailure(
                ExitCodes.notFound, "\(Set(ids).count - count) of the named ids are not in group '\(group)''s dead-letter queue"
            )
            .report()
        }
    }
}

extension DeadLettersCommand {
    struct Requeue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters back to their group; attempts start again at 1.")

        @OptionGroup var options: CLIOptions
        @OptionGroup var selection: DeadLetterSelection

        func run() async throws {
            try await selection.apply("requeued", options: options) { bus, group, ids in
                try await bus.requeueDeadLetters(group: group, ids: ids)
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters for good.")

        @OptionGroup var options: CLIOptions
        @OptionGroup var selection: DeadLetterSelection

        func run() async throws {
            try await selection.apply("purged", options: options) { bus, group, ids in
                try await bus.purgeDeadLetters(group: group, ids: ids)
            }
        }
    }
}
