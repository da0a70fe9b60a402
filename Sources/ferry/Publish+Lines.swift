import ArgumentParser
import Ferry
import Foundation

extension PublishCommand {
    /// Publishes the lines' events together and reports every line's outcome: a receipt, or
    /// the reason ferryd rejected it. Rejections exit 1 once everything is printed; events the
    /// broker never confirmed (it went away) exit as unreachable.
    func publishLines(_ events: [(line: Int, event: RawEvent)]) async throws {
        let schedule = try when.schedule()
        let outcomes = try await options.withBus { bus in await bus.publishEach(raw: events.map(\.event), schedule: schedule) }
        var unconfirmed: [(line: Int, error: FerryError)] = []
        var rejected: [(line: Int, error: FerryError)] = []
        var values: [[String: Any]] = []
        var table = Table(["LINE", "TOPIC", "OFFSET", "ID"], numeric: [0, 2])
        for ((line, event), outcome) in zip(events, outcomes) {
            var value: [String: Any] = ["line": line, "topic": event.topic, "id": event.id]
            switch outcome {
            case .success(let receipt):
                if let due = receipt.scheduledFor {
                    let dueText = Output.time(due)
                    value["due"] = dueText
                    table.add(["\(line)", receipt.topic, "due \(dueText)", receipt.eventID])
                } else {
                    value["offset"] = receipt.offset
                    table.add(["\(line)", receipt.topic, "\(receipt.offset)", receipt.eventID])
                }
            case .failure(let error):
                value["error"] = ["code": error.code.name, "message": error.message]
                table.add(["\(line)", event.topic, "-", event.id])
                if CLIFailure.isUnanswered(error) { unconfirmed.append((line, error)) } else { rejected.append((line, error)) }
            }
            values.append(value)
        }
        if options.json { Output.json(values) } else { table.print() }
        for (line, error) in rejected {
            _ = CLIFailure(ExitCodes.rejected, "stdin line \(line): ferryd rejected the event: \(error.message) (\(error.code))").report()
        }
        if let first = unconfirmed.first {
            let lines = unconfirmed.map { "\($0.line)" }.joined(separator: ", ")
            let failure = CLIFailure(first.error, broker: options.endpoint, timeout: options.timeout)
            throw CLIFailure(failure.exitCode, "\(failure.message) Lines not confirmed: \(lines).").report()
        }
        if !rejected.isEmpty {
            throw CLIFailure(ExitCodes.rejected, "\(rejected.count) of \(events.count) events were rejected").report()
        }
    }
}
