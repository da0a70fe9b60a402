import ArgumentParser
import Foundation
import OrderEvents
import OrderSystemKit

/// The notification-worker process: the notifications users read about their orders, kept
/// in `<data-dir>/notifications.sqlite`.
@main
struct NotificationWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notification-worker",
        abstract: "Stores user notifications about their orders (group `notifications`).",
        discussion: """
            Hosts the consumer group `notifications`: OrderCreated, OrderConfirmed, OrderShipped, OrderCancelled, \
            PaymentRefunded and OrderReadyForFulfillment each become one notification in \
            <data-dir>/notifications.sqlite (a redelivered event adds nothing). `list` prints them.
            """,
        subcommands: [Run.self, List.self], defaultSubcommand: Run.self)

    static let databaseName = "notifications.sqlite"
}

extension NotificationWorker {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Consume order events and store notifications.")

        @OptionGroup var process: ProcessOptions
        @OptionGroup var retry: RetryArguments
        @OptionGroup var faults: FaultArguments

        func run() async throws {
            let logger = process.bootstrapLogging(label: "notification-worker")
            let composer = NotificationComposer(store: try NotificationStore(path: process.path(NotificationWorker.databaseName)))
            let log = HandlerLog(logger: logger, maxAttempts: retry.maxAttempts)
            let faults = faults
            try await WorkerHost.run(name: "notification-worker", options: process, logger: logger) { worker in
                worker.group("notifications", options: retry.groupOptions) { group in
                    group.on(
                        OrderCreated.self, OrderConfirmed.self, OrderShipped.self, OrderCancelled.self, PaymentRefunded.self,
                        OrderReadyForFulfillment.self
                    ) { event, context in
                        try await log.handle("\(context.event.typeName) notification", context) {
                            try faults.maybeFail("storing the notification")
                            _ = try composer.handle(event, context: context)
                        }
                    }
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the stored notifications, oldest first.")

        @OptionGroup var report: ReportOptions
        @Option(help: "Only this user's notifications.") var user: String?
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() async throws {
            let notifications = try NotificationStore(path: report.existingDatabase(NotificationWorker.databaseName)).list(user: user)
            if json { return try ConsoleOutput.printJSON(notifications) }
            for notification in notifications {
                print("\(notification.createdAt)  \(notification.userID)  \(notification.kind)  \(notification.message)")
            }
            if notifications.isEmpty { print("no notifications") }
        }
    }
}
