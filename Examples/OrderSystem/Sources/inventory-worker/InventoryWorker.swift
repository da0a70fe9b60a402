import ArgumentParser
import Ferry
import Foundation
import OrderSystemKit

/// inventory-worker: reserves stock in SQLite on `OrderCreated` (all lines or none), publishes
/// `InventoryReserved` or `InventoryReservationFailed`, and releases stock on `OrderCancelled`.
@main
struct InventoryWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory-worker",
        abstract: "Reserves and releases stock for orders (handler group 'inventory').",
        subcommands: [Run.self, Stock.self],
        defaultSubcommand: Run.self)

    /// The catalogue a fresh database starts with.
    static let defaultStock = ["sku-1": 1000, "sku-2": 1000, "sku-3": 1000, "sku-4": 1000, "sku-5": 1000, "sku-limited": 3]

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Consume orders and keep stock.")
        @OptionGroup var process: ProcessOptions
        @OptionGroup var retry: RetryArguments
        @OptionGroup var faults: FaultArguments
        @Option(
            help: "Initial stock of a fresh database as PRODUCT=QUANTITY (repeatable; default: sku-1…sku-5 at 1000, sku-limited at 3).")
        var stock: [String] = []

        func run() async throws {
            let logger = process.bootstrapLogging(label: "inventory-worker")
            var seed = InventoryWorker.defaultStock
            if !stock.isEmpty {
                seed = [:]
                for entry in stock {
                    let parts = entry.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, let quantity = Int(parts[1]), quantity >= 0 else {
                        throw ValidationError("--stock wants PRODUCT=QUANTITY, got '\(entry)'")
                    }
                    seed[String(parts[0])] = quantity
                }
            }
            let store = try InventoryStore(path: try process.path("inventory.sqlite"), seed: seed)
            let handlers = InventoryHandlers(store: store, faults: faults, logger: logger)
            try await WorkerHost.run(name: "inventory-worker", options: process, logger: logger) {
                handlers.register(on: $0, options: retry.groupOptions)
            }
        }
    }

    struct Stock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print stock levels and reservations.")
        @OptionGroup var report: ReportOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let store = try InventoryStore(path: try report.existingDatabase("inventory.sqlite"), seed: [:])
            let stock = try store.stock()
            let reservations = try store.reservations()
            if json {
                struct Report: Encodable {
                    let stock: [InventoryStore.StockLevel]
                    let reservations: [InventoryStore.Reservation]
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(Report(stock: stock, reservations: reservations)), as: UTF8.self))
                return
            }
            print("product        available  reserved")
            for level in stock {
                print(
                    level.productID.padding(toLength: 14, withPad: " ", startingAt: 0),
                    String(format: "%9d  %8d", level.available, level.reserved))
            }
            print(
                "\(reservations.count) reservations: "
                    + Dictionary(grouping: reservations, by: \.status.rawValue).map { "\($0.key) \($0.value.count)" }.sorted().joined(
                        separator: ", "))
        }
    }
}
