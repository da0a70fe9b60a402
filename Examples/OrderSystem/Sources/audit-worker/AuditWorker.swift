import ArgumentParser
import Foundation
import OrderEvents
import OrderSystemKit

/// The audit-worker process: an event store of every order event, with its whole envelope,
/// in `<data-dir>/audit.sqlite`, rebuilt from ferryd's log on demand.
@main
struct AuditWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit-worker",
        abstract: "Keeps an event store of every order event (group `audit`), with replay.",
        discussion: """
            `run` hosts the consumer group `audit`, which follows every order-event topic raw, so each \
            event's whole envelope (ids, key, correlation and causation ids, times, headers, payload) is \
            kept in <data-dir>/audit.sqlite, once per event id. `show ORDER_ID` prints an order's events \
            from that store.

            To rebuild the store (lost or deleted), keep an audit-worker running and run \
            `audit-worker replay --reset`: it empties the local store, then asks ferryd to move the group's \
            cursors back to the beginning (or `--from <ISO 8601 time>`), and ferryd redelivers every \
            event it still holds to the running worker. Without --reset the replay only adds what is \
            missing: stored events are never duplicated.
            """,
        subcommands: [Run.self, Show.self, Replay.self], defaultSubcommand: Run.self)

    static let group = "audit"
    static let databaseName = "audit.sqlite"
}

extension AuditWorker {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Consume every order event and store it.")

        @OptionGroup var process: ProcessOptions
        @OptionGroup var retry: RetryArguments
        @OptionGroup var faults: FaultArguments

        func run() async throws {
            let logger = process.bootstrapLogging(label: "audit-worker")
            let store = try AuditStore(path: process.path(AuditWorker.databaseName))
            let log = HandlerLog(logger: logger, maxAttempts: retry.maxAttempts)
            let faults = faults
            try await WorkerHost.run(name: "audit-worker", options: process, logger: logger) { worker in
                worker.group(AuditWorker.group, options: retry.groupOptions) { group in
                    for type in OrderSystemEvents.orderEventTypes {
                        group.onRaw(topic: type.topic) { event, context in
                            try await log.handle("\(event.topic)#\(context.offset)", context) {
                                try faults.maybeFail("storing the event")
                                try store.append(AuditedEvent(event, offset: context.offset))
                            }
                        }
                    }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print an order's events from the local store, in stored order.")

        @OptionGroup var report: ReportOptions
        @Argument(help: "The order id (the events' key).") var orderID: String
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() async throws {
            let events = try AuditStore(path: report.existingDatabase(AuditWorker.databaseName)).events(key: orderID)
            if json { return try ConsoleOutput.printJSON(events) }
            for event in events {
                print("\(event.storedAt)  \(event.topic)#\(event.offset)  \(event.eventID)  \(event.payload)")
            }
            if events.isEmpty { print("no events for order \(orderID)") }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask ferryd to redeliver the audit group's events, so a running audit-worker rebuilds its store.")

        @OptionGroup var process: ProcessOptions
        @Option(help: "Where to start: `beginning` or an ISO 8601 time such as 2026-11-27T12:00:00Z.")
        var from = "beginning"
        @Flag(help: "Empty the local store first (the data directory must be the running worker's).")
        var reset = false

        func validate() throws {
            _ = try position()
        }

        func position() throws -> ReplayPosition {
            if from == "beginning" { return .beginning }
            guard let date = try? Date(from, strategy: .iso8601) else {
                throw ValidationError("--from must be `beginning` or an ISO 8601 time, not '\(from)'")
            }
            return .time(date)
        }

        func run() async throws {
            if reset {
                let removed = try AuditStore(path: process.path(AuditWorker.databaseName)).removeAll()
                print("removed \(removed) events from the local store")
            }
            let bus = try EventBus(configuration: process.clientConfiguration(name: "audit-worker-replay"))
            let cursors = try await bus.replay(group: AuditWorker.group, from: position())
            await bus.close()
            for (topic, offset) in cursors.sorted(by: { $0.key < $1.key }) {
                print("\(topic): redelivering from offset \(offset)")
            }
        }
    }
}
