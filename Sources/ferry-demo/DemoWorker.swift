import ArgumentParser
import Ferry
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// One worker process of the demo, hosting the handler groups of its role.
struct DemoWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run one demo worker process.")

    enum Role: String, ExpressibleByArgument, CaseIterable {
        case email, payment, inventory, analytics
    }

    @Option(help: "ferryd's endpoint.") var endpoint = "tcp://127.0.0.1:7400"
    @Option(help: "email, payment, inventory or analytics.") var role: Role
    @Option(help: "Name shown in the output.") var name: String?

    func run() async throws {
        bootstrapQuietLogging()
        let name = name ?? role.rawValue
        let worker = Worker(name: name, configuration: ClientConfiguration(endpoint: endpoint, clientName: name))
        let say: @Sendable (String) -> Void = { line in ferry_demo.say("  [\(name)] \(line)") }
        var options = HandlerGroupOptions()
        options.retry = RetryOptions(initialDelay: .milliseconds(200), multiplier: 2, maxDelay: .seconds(2), maxAttempts: 3)
        switch role {
        case .email:
            worker.group("email", options: options) { group in
                group.on(OrderCreated.self) { order, context in
                    // Every fourth order meets a flaky mail server on its first attempt.
                    if context.attempt == 1 && (Int(order.orderID.split(separator: "-").last ?? "") ?? 0) % 4 == 3 {
                        say("SMTP timeout for \(order.orderID), will retry")
                        throw FlakyMailServer()
                    }
                    say("confirmation email for \(order.orderID) to \(order.userID) (attempt \(context.attempt))")
                }
            }
        case .payment:
            worker.group("payment", options: options) { group in
                group.on(OrderCreated.self) { order, context in
                    let payment = PaymentProcessed(orderID: order.orderID, paymentID: "pay-\(order.orderID)", amount: order.total)
                    try await context.publish(payment)
                    say("charged \(order.total) for \(order.orderID) -> PaymentProcessed (correlation \(context.correlationID.prefix(8)))")
                }
            }
        case .inventory:
            let stock = Mutex<[String: Int]>(["sku-1": 1000, "sku-2": 1000, "sku-3": 5])
            worker.group("inventory", options: options) { group in
                group.on(OrderCreated.self) { order, _ in
                    for item in order.items where item.quantity <= 0 {
                        say("order \(order.orderID) has quantity \(item.quantity): poison, to the dead-letter queue")
                        throw DeadLetterError("quantity must be positive, got \(item.quantity) for \(item.productID)")
                    }
                    let reserved = stock.withLock { stock in
                        guard order.items.allSatisfy({ (stock[$0.productID] ?? 0) >= $0.quantity }) else { return false }
                        for item in order.items { stock[item.productID, default: 0] -= item.quantity }
                        return true
                    }
                    say(reserved ? "reserved stock for \(order.orderID)" : "out of stock for \(order.orderID)")
                }
                group.on(PaymentProcessed.self) { payment, _ in
                    say("payment \(payment.paymentID) seen for \(payment.orderID)")
                }
            }
        case .analytics:
            worker.group("analytics") { group in
                group.on(UserAction.self, batch: BatchOptions(maxSize: 50, maxWait: .milliseconds(500))) { actions, _ in
                    let counts = Dictionary(grouping: actions, by: \.action).mapValues(\.count)
                    say(
                        "batch of \(actions.count) user actions: \(counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
                    )
                }
            }
        }
        let logger = Logger(label: name)
        try await ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
    }
}

struct FlakyMailServer: Error, CustomStringConvertible {
    var description: String { "SMTP timeout" }
}
