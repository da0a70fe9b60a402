import ArgumentParser
import Ferry

/// `ferry groups`: consumer groups with members, in flight, lag per topic, retries and DLQ.
struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List consumer groups: members, in flight, lag per topic, retries, dead letters.",
        discussion: """
            LAG is what the group has not been sent yet; RETRIES are deliveries waiting for their \
            backoff; DLQ is the size of its dead-letter queue. DELIVERED, ACKED, NACKED and DEAD count \
            since ferryd started. A second table shows each group's position and lag per topic. \
            Ephemeral groups (ferry tail) are marked with ~.

            Examples:
              ferry groups
              ferry groups --json | jq '.[] | select(.lag > 1000) | .name'
            """)

    @OptionGroup var options: CLIOptions

    @Argument(help: "Show only these groups.")
    var names: [String] = []

    func run() async throws {
        var groups = try await options.withBus { bus in try await bus.groups() }
        if !names.isEmpty {
            let missing = names.filter { name in !groups.contains { $0.name == name } }
            if !missing.isEmpty {
                throw CLIFailure(ExitCodes.notFound, "no consumer group named \(missing.map { "'\($0)'" }.joined(separator: ", "))")
                    .report()
            }
            groups = groups.filter { names.contains($0.name) }
        }
        if options.json {
            Output.json(groups.map(Self.dictionary))
            return
        }
        if groups.isEmpty {
            Output.line("no consumer groups")
            return
        }
        var table = Table(
            ["GROUP", "MEMBERS", "IN FLIGHT", "LAG", "SCHEDULED", "RETRIES", "DLQ", "DELIVERED", "ACKED", "NACKED", "DEAD"],
            numeric: Set(1...10))
        var lags = Table(["GROUP", "TOPIC", "POSITION", "END", "LAG"], numeric: [2, 3, 4])
        for group in groups {
            table.add(
                [
                    group.ephemeral ? "~" + group.name : group.name, "\(group.members)", "\(group.inFlight)", "\(group.lag)",
                    "\(group.scheduled)", "\(group.pendingRetries)", "\(group.deadLetters)", "\(group.delivered)", "\(group.acked)", "\(group.nacked)",
                    "\(group.deadLettered)",
                ])
            for topic in group.topics { lags.add([group.name, topic.topic, "\(topic.position)", "\(topic.end)", "\(topic.lag)"]) }
        }
        table.print()
        if !lags.rows.isEmpty {
            Output.line()
            lags.print()
        }
    }

    static func dictionary(_ group: GroupSummary) -> [String: Any] {
        [
            "name": group.name, "members": group.members, "in_flight": group.inFlight, "lag": group.lag,
            "pending_retries": group.pendingRetries, "dead_letters": group.deadLetters, "patterns": group.patterns,
            "ephemeral": group.ephemeral, "delivered": group.delivered, "acked": group.acked, "nacked": group.nacked,
            "redelivered": group.redelivered, "dead_lettered": group.deadLettered, "scheduled": group.scheduled,
            "topics": group.topics.map { ["topic": $0.topic, "position": $0.position, "end": $0.end, "lag": $0.lag] as [String: Any] },
        ]
    }
}
