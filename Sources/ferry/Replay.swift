import ArgumentParser
import Ferry
import Foundation

/// `ferry replay`: moves a group's cursor.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Move a group's position so it receives events again, or skips them.",
        discussion: """
            --from takes beginning (the oldest event held), end (skip the backlog), an offset, or an \
            ISO 8601 time (the first event stored at or after it). The group delivers from there to \
            its members, as new deliveries; events are delivered again even if already acked. \
            Prints each topic's new position.

            Examples:
              ferry replay email --from beginning
              ferry replay email --from 2025-05-01T12:00:00Z --topic orders.created
              ferry replay analytics --from end
            """)

    @OptionGroup var options: CLIOptions

    @Argument(help: "The consumer group.")
    var group: String

    @Option(name: .long, help: ArgumentHelp("beginning, end, an offset, or an ISO 8601 time.", valueName: "position"))
    var from: String

    @Option(name: .long, help: "Only this topic (default: every topic the group follows).")
    var topic: String?

    func validate() throws {
        _ = try position()
    }

    func run() async throws {
        let position = try position()
        let group = self.group
        let topic = self.topic
        let cursors = try await options.withBus { bus in try await bus.replay(group: group, topic: topic, from: position) }
        let sorted = cursors.sorted { $0.key < $1.key }
        if options.json {
            Output.json(
                ["group": group, "cursors": sorted.map { ["topic": $0.key, "position": $0.value] as [String: Any] }] as [String: Any])
            return
        }
        if sorted.isEmpty {
            Output.line("group '\(group)' follows no topic yet")
            return
        }
        var table = Table(["TOPIC", "POSITION"], numeric: [1])
        for (topic, offset) in sorted { table.add([topic, "\(offset)"]) }
        table.print()
    }

    private func position() throws -> ReplayPosition {
        switch from.lowercased() {
        case "beginning", "earliest", "start": return .beginning
        case "end", "latest": return .end
        default:
            if let offset = UInt64(from) { return .offset(offset) }
            if let date = Self.parseTime(from) { return .time(date) }
            throw ValidationError("--from takes beginning, end, an offset or an ISO 8601 time (2025-05-01T12:00:00Z); got '\(from)'")
        }
    }

    static func parseTime(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }
}
