import ArgumentParser
import Foundation
import Logging
import OrderEvents
import OrderSystemKit

/// The email-worker process: order-confirmation and shipping emails for the order system,
/// written as RFC 5322 `.eml` files into an outbox directory.
@main
struct EmailWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "email-worker",
        abstract: "Writes order-confirmation and shipping emails (.eml files) for the order system.",
        discussion: """
            Hosts the consumer group `email`: on OrderConfirmed it writes an order-confirmation email, on \
            OrderShipped a shipping email with the tracking number, on PaymentReminderDue a payment reminder. \
            And the group `payment-reminders`: on OrderCreated it schedules the order's PaymentReminderDue \
            (--payment-reminder-after later), on OrderConfirmed or OrderCancelled it cancels it. Each email is an RFC 5322 message in \
            <outbox>/<event id>.eml, written atomically, so a redelivered event rewrites the same file. \
            Several email-worker processes may run at once: they compete for the group's events.
            """,
        subcommands: [Run.self], defaultSubcommand: Run.self)
}

extension EmailWorker {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Consume OrderConfirmed and OrderShipped and write emails.")

        @OptionGroup var process: ProcessOptions
        @OptionGroup var retry: RetryArguments
        @OptionGroup var faults: FaultArguments

        @Option(help: "Directory the .eml files go to (default: <data-dir>/outbox).")
        var outbox: String?

        @Option(help: "The From header of every email.")
        var from = "Ferry Shop <orders@shop.example>"

        @Option(
            help: ArgumentHelp(
                "While this file exists the mail server is down: every send fails with a transient error.",
                discussion: "Retries back off and end in the dead-letter queue; after removing the file a requeue succeeds."))
        var senderDownFile: String?

        @Option(help: "Comma-separated user ids whose mail bounces permanently (the event goes to the dead-letter queue at once).")
        var bounceUsers = ""

        @Option(help: "How long after an order is placed its payment reminder goes out unless it was confirmed or cancelled: 90s, 30m, 24h.")
        var paymentReminderAfter = "24h"

        func validate() throws {
            _ = try reminderDelay()
        }

        func reminderDelay() throws -> Duration {
            let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
            for (suffix, seconds) in units where paymentReminderAfter.hasSuffix(suffix) {
                if let value = Double(paymentReminderAfter.dropLast(suffix.count)), value.isFinite, value >= 0 {
                    return .milliseconds(Int64(value * seconds * 1000))
                }
            }
            throw ValidationError("--payment-reminder-after takes a duration such as 90s, 30m or 24h; got '\(paymentReminderAfter)'")
        }

        func run() async throws {
            let logger = process.bootstrapLogging(label: "email-worker")
            let outboxPath = try outbox ?? process.path("outbox")
            let sender = try OutboxSender(
                directory: outboxPath, downFile: senderDownFile,
                bouncingUsers: Set(bounceUsers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }))
            let emails = OrderEmails(from: from)
            let log = HandlerLog(logger: logger, maxAttempts: retry.maxAttempts)
            let faults = faults
            let reminderDelay = try reminderDelay()
            logger.info("writing emails", metadata: ["outbox": "\(outboxPath)"])
            try await WorkerHost.run(name: "email-worker", options: process, logger: logger) { worker in
                worker.group("email", options: retry.groupOptions) { group in
                    group.on(OrderConfirmed.self) { event, context in
                        try await log.handle("order-confirmation email for order \(event.orderID)", context) {
                            try faults.maybeFail("sending the confirmation email")
                            try sender.send(emails.confirmation(event, context: context), userID: event.userID, eventID: context.eventID)
                        }
                    }
                    group.on(OrderShipped.self) { event, context in
                        try await log.handle("shipping email for order \(event.orderID)", context) {
                            try faults.maybeFail("sending the shipping email")
                            try sender.send(emails.shipping(event, context: context), userID: event.userID, eventID: context.eventID)
                        }
                    }
                    group.on(PaymentReminderDue.self) { event, context in
                        try await log.handle("payment reminder for order \(event.orderID)", context) {
                            try faults.maybeFail("sending the payment reminder")
                            try sender.send(emails.paymentReminder(event, context: context), userID: event.userID, eventID: context.eventID)
                        }
                    }
                }
                PaymentReminders.register(on: worker, options: retry.groupOptions, after: reminderDelay, log: log)
            }
        }
    }
}
