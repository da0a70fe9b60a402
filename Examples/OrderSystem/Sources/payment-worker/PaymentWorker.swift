import ArgumentParser
import Ferry
import Foundation
import OrderEvents
import OrderSystemKit

/// payment-worker: takes the payment of every new order and refunds cancelled orders.
@main
struct PaymentWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payment-worker",
        abstract: "Charges orders and refunds cancelled ones (handler group 'payment').",
        subcommands: [Run.self, Payments.self],
        defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Consume orders and cancellations.")
        @OptionGroup var process: ProcessOptions
        @OptionGroup var retry: RetryArguments
        @OptionGroup var faults: FaultArguments

        func run() async throws {
            let logger = process.bootstrapLogging(label: "payment-worker")
            let ledger = try PaymentLedger(path: try process.path("payments.sqlite"))
            let handlers = PaymentHandlers(ledger: ledger, faults: faults, logger: logger)
            try await WorkerHost.run(name: "payment-worker", options: process, logger: logger) {
                handlers.register(on: $0, options: retry.groupOptions)
            }
        }
    }

    struct Payments: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the payment ledger.")
        @OptionGroup var report: ReportOptions

        func run() throws {
            for payment in try PaymentLedger(path: try report.existingDatabase("payments.sqlite")).payments() {
                print(payment.orderID, payment.paymentID, payment.status.rawValue, formatCents(payment.amountCents), payment.currency)
            }
        }
    }
}
