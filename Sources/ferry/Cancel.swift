import ArgumentParser
import Ferry
import Foundation

/// `ferry cancel`: removes a scheduled event before it is due.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a scheduled event (ferry publish --at/--after) before it is due.",
        discussion: """
            Exits 0 when the event was cancelled: no group will receive it. Exits 2 when no \
            scheduled event has that topic and id (never scheduled, cancelled before, or already \
            appended), or when it is due and being appended.

            Example:
              ferry cancel reminders reminder-42
            """)

    @OptionGroup var options: CLIOptions

    @Argument(help: "The topic the event was published to.")
    var topic: String

    @Argument(help: "The event's id.")
    var id: String

    func run() async throws {
        let topic = self.topic
        let id = self.id
        let cancellation = try await options.withBus { bus in try await bus.cancelScheduled(topic: topic, id: id) }
        let due = cancellation.dueAt.map { Output.time($0) }
        let outcome: String =
            switch cancellation.outcome {
            case .cancelled: "cancelled"
            case .notScheduled: "not scheduled"
            case .alreadyDue: "already due"
            }
        if options.json {
            var value: [String: Any] = ["topic": topic, "id": id, "outcome": outcome]
            if let due { value["due"] = due }
            Output.json(value)
        } else {
            Output.line("\(topic) \(id): \(outcome)" + (due.map { " (due \($0))" } ?? ""))
        }
        if cancellation.outcome != .cancelled {
            throw CLIFailure(ExitCodes.notFound, "\(id) on \(topic) was not cancelled: \(outcome)").report()
        }
    }
}
