import ArgumentParser
import Ferry
import Foundation
import OrderSystemKit

/// fulfillment-worker: joins payments and reservations per order and announces orders ready.
@main
struct FulfillmentWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fulfillment-worker",
        abstract: "Publishes OrderReadyForFulfillment once an order is paid and reserved (handler group 'fulfillment').",
        subcommands: [Run.self, Status.self],
        defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Consume payments, reservations and cancellations.")
        @OptionGroup var process: ProcessOptions
        @OptionGroup var retry: RetryArguments

        func run() async throws {
            let logger = process.bootstrapLogging(label: "fulfillment-worker")
            let store = try ReadinessStore(path: try process.path("fulfillment.sqlite"))
            let handlers = FulfillmentHandlers(store: store, logger: logger)
            try await WorkerHost.run(name: "fulfillment-worker", options: process, logger: logger) {
                handlers.register(on: $0, options: retry.groupOptions)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print what is known of each order.")
        @OptionGroup var report: ReportOptions

        func run() throws {
            for row in try ReadinessStore(path: try report.existingDatabase("fulfillment.sqlite")).all() {
                let state = row.announcedAt != nil ? "ready" : row.cancelledAt != nil ? "cancelled" : "waiting"
                print(row.orderID, "paid:\(row.paidAt != nil)", "reserved:\(row.reservedAt != nil)", state)
            }
        }
    }
}
