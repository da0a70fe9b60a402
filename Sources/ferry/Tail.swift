import ArgumentParser
import Dispatch
import Ferry
import Foundation

/// `ferry tail`: follows events live through an ephemeral group.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print events of matching topics as they arrive.",
        discussion: """
            Patterns: an exact topic (orders.created), * for one token (orders.*), > for one or more \
            trailing tokens (orders.>, or > for everything). Several patterns may be given.

            Tail reads through an ephemeral consumer group: ferryd keeps it in memory only and removes \
            it when tail exits (at once on Ctrl-C, --count or end of input; after ferryd's peer timeout \
            if tail is killed), so tailing changes no group's position and leaves nothing behind. \
            Durable groups still get every event.

            Each line shows when ferryd stored the event, topic#offset, key, type, headers and \
            payload; --json prints one JSON object per line (JSON lines) with every field.

            Examples:
              ferry tail 'orders.>'
              ferry tail '>' --from beginning --count 10 --json | jq .payload
            """)

    enum Start: String, ExpressibleByArgument, CaseIterable {
        case beginning, end
    }

    @OptionGroup var options: CLIOptions

    @Argument(help: "Topic patterns to follow.")
    var patterns: [String]

    @Option(name: .long, help: "end: only new events (default); beginning: first what the topics still hold.")
    var from: Start = .end

    @Option(name: .long, help: "Exit after this many events.")
    var count: Int?

    @Option(name: .long, help: "Name of the ephemeral group (default: chosen by ferryd); tails naming one group share its events.")
    var group: String?

    func validate() throws {
        if patterns.isEmpty { throw ValidationError("name at least one topic pattern, e.g. 'orders.>'") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        let json = options.json
        let limit = count
        // Installed before subscribing, so that Ctrl-C at any point ends the tail cleanly.
        let stopper = TailStopper()
        defer { stopper.cancel() }
        try await options.withBus { bus in
            let tail = try await bus.tail(patterns, from: from == .end ? .latest : .earliest, group: group)
            await withTaskGroup(of: Void.self) { tasks in
                // A signal (also one that came while subscribing) closes the tail, which ends the loop below.
                tasks.addTask { if await stopper.signalled() { await tail.close() } }
                var seen = 0
                for await item in tail {
                    if json {
                        var fields = EventRendering.dictionary(item.event, offset: item.offset)
                        fields["attempt"] = item.attempt
                        Output.json(fields, compact: true)
                    } else {
                        Output.line(EventRendering.line(item.event, offset: item.offset))
                    }
                    seen += 1
                    if let limit, seen >= limit { break }
                }
                tasks.cancelAll()
            }
            await tail.close()
            // The broker ended the tail (its grant was revoked): say so, not exit as if asked to.
            if let error = tail.endError { throw error }
        }
    }
}

/// Turns SIGINT and SIGTERM into something a task can await, so that a signal ends a tail
/// (ferryd then drops its group at once instead of after its peer timeout), including a signal
/// that arrives before the tail exists.
final class TailStopper: @unchecked Sendable {
    // @unchecked: `sources` (not Sendable) is only touched by init and cancel(), from the command's task.
    private let sources: [any DispatchSourceSignal]
    private let signals = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

    init() {
        let continuation = signals.continuation
        sources = [SIGINT, SIGTERM].map { number in
            DispatchSource.makeSignalSource(signal: number, queue: .global())
        }
        for (number, source) in zip([SIGINT, SIGTERM], sources) {
            signal(number, SIG_IGN)
            source.setEventHandler { continuation.yield() }
            source.resume()
        }
    }

    /// Returns true once a signal came (at once if one came already), false if the task was
    /// cancelled first.
    func signalled() async -> Bool {
        for await _ in signals.stream { return true }
        return false
    }

    func cancel() {
        signals.continuation.finish()
        for source in sources { source.cancel() }
    }
}
