import ArgumentParser
import Ferry
import Foundation

/// `ferry publish`: one event from an argument or stdin, or many as JSON lines.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish events with JSON payloads.",
        discussion: """
            The payload is the PAYLOAD argument, or else all of stdin. It must be JSON (any value: an \
            object, an array, a string, a number). Prints each event's topic offset once ferryd \
            stored it (or, with --json, {"topic", "offset", "id"}).

            With --lines, stdin holds one event per line, each an envelope object:
              {"payload": <JSON>, "topic": "...", "key": "...", "id": "...", "type": "...", "headers": {"k": "v"}}
            Only "payload" is required; the other members default to TOPIC, --key, a fresh id, --type \
            and --header. Blank lines are skipped. Every line is checked before anything is published: \
            a line that is not such an object fails with exit code 65 and its line number, and \
            nothing is published. To publish bare payloads as lines, wrap them: jq -c '{payload: .}'. \
            Events ferryd rejects (an invalid topic, an oversized payload, a full disk) do not stop \
            the others: every line's outcome is printed (with --json, a rejected line has "error" \
            instead of "offset"), each rejection is also reported on stderr with its line number, \
            and the exit code is 1.

            Examples:
              ferry publish orders.created '{"orderID":"42","total":99}' --key order-42 --type OrderCreated
              echo '{"orderID":"43"}' | ferry publish orders.created --header source=import
              ferry publish orders.created --lines < events.jsonl
              ferry publish reminders '{"orderID":"42"}' --after 24h --id reminder-42

            With --at or --after, ferryd stores the events at once and appends them to the topic \
            when they are due: no group receives them before. Each is printed with its due time \
            instead of an offset; `ferry cancel TOPIC ID` removes one before it is due.
            """)

    @OptionGroup var options: CLIOptions

    @Argument(help: "The topic, e.g. orders.created (with --lines, the default topic).")
    var topic: String

    @Argument(help: "The JSON payload; read from stdin when omitted.")
    var payload: String?

    @Option(name: .long, help: "Ordering key: events with one key reach one member of a group, in order.")
    var key: String?

    @Option(name: .long, help: ArgumentHelp("A header, repeatable.", valueName: "name=value"))
    var header: [String] = []

    @Option(name: .long, help: "Event type name, e.g. OrderCreated.")
    var type: String = ""

    @Option(name: .long, help: "Event id (default: a new UUID); ferryd stores an id once within its dedup window.")
    var id: String?

    @Flag(name: .long, help: "Read many events from stdin, one JSON envelope per line (see above).")
    var lines = false

    @OptionGroup var when: ScheduleOptions

    func validate() throws {
        if lines && payload != nil { throw ValidationError("--lines reads stdin; do not pass a PAYLOAD argument") }
        if lines && id != nil { throw ValidationError("--id names one event; with --lines put \"id\" in each line") }
        _ = try headers()
    }

    func run() async throws {
        if lines { return try await publishLines(readLines()) }
        let event = try readSingle()
        let schedule = try when.schedule()
        let receipt = try await options.withBus { bus in try await bus.publish(raw: [event], schedule: schedule)[0] }
        if let due = receipt.scheduledFor {
            let dueText = Output.time(due)
            if options.json {
                Output.json(["topic": receipt.topic, "due": dueText, "id": receipt.eventID, "duplicate": receipt.wasScheduledBefore] as [String: Any])
            } else {
                var table = Table(["TOPIC", "DUE", "ID"])
                table.add([receipt.topic, dueText + (receipt.wasScheduledBefore ? " (scheduled before)" : ""), receipt.eventID])
                table.print()
            }
        } else if options.json {
            Output.json(["topic": receipt.topic, "offset": receipt.offset, "id": receipt.eventID] as [String: Any])
        } else {
            var table = Table(["TOPIC", "OFFSET", "ID"], numeric: [1])
            table.add([receipt.topic, "\(receipt.offset)", receipt.eventID])
            table.print()
        }
    }

    private func headers() throws -> [String: String] {
        var headers: [String: String] = [:]
        for pair in header {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw ValidationError("--header takes name=value, got '\(pair)'")
            }
            headers[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        return headers
    }

    private func readSingle() throws -> RawEvent {
        let text = payload ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw CLIFailure(ExitCodes.badInput, "no payload: pass it as an argument or on stdin").report() }
        let data = Data(trimmed.utf8)
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let source = payload == nil ? "stdin" : "the PAYLOAD argument"
            throw CLIFailure(ExitCodes.badInput, "\(source) is not valid JSON: \(Self.describe(error))").report()
        }
        return RawEvent(topic: topic, id: id ?? UUID().uuidString, key: key, type: type, payload: data, headers: try headers())
    }

    /// The events on stdin, each with its line number (from 1).
    private func readLines() throws -> [(line: Int, event: RawEvent)] {
        let text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        let defaults = try headers()
        var events: [(line: Int, event: RawEvent)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            do {
                let event = try LineEnvelope.parse(Data(trimmed.utf8), topic: topic, key: key, type: type, headers: defaults)
                events.append((index + 1, event))
            } catch {
                throw CLIFailure(ExitCodes.badInput, "stdin line \(index + 1): \(error.message); nothing was published").report()
            }
        }
        guard !events.isEmpty else { throw CLIFailure(ExitCodes.badInput, "no events on stdin").report() }
        return events
    }

    static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        return (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
    }
}
