import ArgumentParser
import Foundation
import Logging
import OrderEvents
import OrderSystemKit

/// The analytics-worker process: counts users' actions in batches, per hour and per user,
/// in `<data-dir>/analytics.sqlite`.
@main
struct AnalyticsWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analytics-worker",
        abstract: "Aggregates UserAction events in batches (group `analytics`).",
        discussion: """
            Hosts the consumer group `analytics` with a batched handler for UserAction: a batch is cut at \
            --batch-size events or --batch-wait-ms after its first event, whichever comes first, and \
            recorded in one transaction in <data-dir>/analytics.sqlite: counts per hour and action, counts \
            per user and action, and a log of the batches. Events already counted (a redelivered batch, a \
            replay) are skipped. `report` prints the aggregates.
            """,
        subcommands: [Run.self, Report.self], defaultSubcommand: Run.self)

    static let databaseName = "analytics.sqlite"
}

extension AnalyticsWorker {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Consume UserAction events in batches and count them.")

        @OptionGroup var process: ProcessOptions
        @OptionGroup var retry: RetryArguments
        @OptionGroup var faults: FaultArguments
        @Option(help: "Most events in one batch.") var batchSize = 200
        @Option(help: "Longest wait, in milliseconds, after a batch's first event before it is handled.") var batchWaitMs = 500

        func validate() throws {
            guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1") }
            guard batchWaitMs >= 0 else { throw ValidationError("--batch-wait-ms must not be negative") }
        }

        func run() async throws {
            let logger = process.bootstrapLogging(label: "analytics-worker")
            let store = try AnalyticsStore(path: process.path(AnalyticsWorker.databaseName))
            let log = HandlerLog(logger: logger, maxAttempts: retry.maxAttempts)
            let faults = faults
            let batch = BatchOptions(maxSize: batchSize, maxWait: .milliseconds(batchWaitMs))
            try await WorkerHost.run(name: "analytics-worker", options: process, logger: logger) { worker in
                worker.group("analytics", options: retry.groupOptions) { group in
                    group.on(UserAction.self, batch: batch) { actions, context in
                        try await log.handle("batch of \(actions.count) user actions", context) {
                            try faults.maybeFail("recording the batch")
                            let counted = try store.record(actions, received: context.events)
                            logger.info("recorded a batch", metadata: ["size": "\(actions.count)", "new": "\(counted)"])
                        }
                    }
                }
            }
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the aggregates and the batch log.")

        @OptionGroup var options: ReportOptions
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() async throws {
            let report = try AnalyticsStore(path: options.existingDatabase(AnalyticsWorker.databaseName)).report()
            if json { return try ConsoleOutput.printJSON(report) }
            print("events counted: \(report.eventsCounted) in \(report.batches.count) batches")
            print("per hour and action:")
            for row in report.actionCounts { print("  \(row.bucketHour)  \(row.action)  \(row.count)") }
            print("per user and action:")
            for row in report.userCounts { print("  \(row.userID)  \(row.action)  \(row.count)") }
            print("batches (size / new):")
            for batch in report.batches { print("  #\(batch.id)  \(batch.size) / \(batch.counted)  \(batch.handledAt)") }
        }
    }
}
