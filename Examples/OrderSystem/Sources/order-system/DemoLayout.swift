import Ferry
import Foundation
import OrderEvents
import OrderSystemKit

/// Which processes the demo starts, with which flags, and where each keeps its state.
struct DemoLayout: Sendable {
    let root: String
    let endpoint: String
    let apiPort: Int
    /// ferryd's HTTP listener (metrics, API, console), `HOST:PORT` or `off`.
    var httpEndpoint = "127.0.0.1:7480"
    /// ferryd's and every process's keys and the credentials; nil: the demo runs without security.
    let keys: OrderSystemKeys?

    /// Every handler group of the Swift processes.
    static let swiftGroups = [
        "orders", "inventory", "payment", "fulfillment", "email", "payment-reminders", "notifications", "audit", "analytics",
    ]
    /// How long after an order is placed its payment reminder goes out unless it was confirmed
    /// or cancelled: seconds in the demo (a day by default).
    static let paymentReminderAfter = "15s"
    /// The Python interpreter and the loyalty worker's script, when the demo runs it.
    var pythonWorker: (python: String, script: String)?

    /// Every handler group the demo runs.
    var groups: [String] { DemoLayout.swiftGroups + (pythonWorker != nil ? ["loyalty", "engagement"] : []) }
    /// The user whose mailbox bounces: their emails end in the DLQ.
    static let bouncingUser = "user-bounce"

    func directory(_ name: String) -> String { URL(fileURLWithPath: root).appendingPathComponent(name).path }
    var emailOutbox: String { URL(fileURLWithPath: directory("email")).appendingPathComponent("outbox").path }

    /// Starts ferryd, the executable at `ferryd`: a CURVE server with the demo's credentials
    /// when there are keys.
    func startBroker(_ children: ChildProcesses, ferryd: String) throws {
        try children.launch(
            ferryd,
            [
                "--endpoint", endpoint, "--data-dir", directory("ferryd"), "--log-level", "warning", "--exit-with-parent",
                "--http-endpoint", httpEndpoint,
            ] + (keys?.ferrydArguments ?? []))
    }

    /// The environment of a process running as `identity`: its keys, or (without security) no
    /// keys even if the demo's own environment has some.
    func environment(of identity: String) throws -> [String: String] {
        try keys?.environment(of: identity) ?? ["FERRY_SERVER_KEY": "", "FERRY_CLIENT_KEY_FILE": ""]
    }

    /// A client configuration of the demo itself, connecting as `identity` when the demo is secured.
    func clientConfiguration(name: String, as identity: String) throws -> ClientConfiguration {
        guard let keys else {
            var configuration = ClientConfiguration(endpoint: endpoint, clientName: name)
            configuration.upcasters = OrderSystemUpcasters.all
            return configuration
        }
        return try keys.clientConfiguration(endpoint: endpoint, clientName: name, as: identity)
    }

    /// Starts the workers and the API; returns their names.
    func startWorkers(_ children: ChildProcesses) throws -> [String] {
        let common = { (name: String) in
            [
                "--broker", endpoint, "--data-dir", directory(name), "--log-level", "warning", "--exit-with-parent",
            ]
        }
        let quickRetries = ["--retry-initial-ms", "200", "--retry-max-ms", "2000", "--max-attempts", "4"]
        let workers: [(executable: String, name: String, arguments: [String])] = [
            ("inventory-worker", "inventory-worker", common("inventory") + quickRetries),
            ("payment-worker", "payment-worker", common("payment") + quickRetries + ["--fail-rate", "0.15", "--fail-first-refund-attempt"]),
            ("fulfillment-worker", "fulfillment-worker", common("fulfillment") + quickRetries),
            (
                "email-worker", "email-worker #1",
                common("email") + quickRetries
                    + ["--fail-rate", "0.2", "--bounce-users", DemoLayout.bouncingUser, "--payment-reminder-after", Self.paymentReminderAfter]
            ),
            (
                "email-worker", "email-worker #2",
                common("email") + quickRetries
                    + ["--fail-rate", "0.2", "--bounce-users", DemoLayout.bouncingUser, "--payment-reminder-after", Self.paymentReminderAfter]
            ),
            ("notification-worker", "notification-worker", common("notifications") + quickRetries),
            ("audit-worker", "audit-worker", common("audit") + quickRetries),
            ("analytics-worker", "analytics-worker", common("analytics") + quickRetries),
            ("orders-api", "orders-api", common("orders-api") + quickRetries + ["--port", "\(apiPort)"]),
        ]
        // Each process runs as the identity named after its executable (both email workers share one).
        for worker in workers {
            try children.launch(worker.executable, worker.arguments, name: worker.name, environment: environment(of: worker.executable))
        }
        guard let (python, script) = pythonWorker else { return workers.map(\.name) }
        try children.launch(
            python, [script] + common("loyalty"), name: "loyalty-worker (Python)",
            environment: environment(of: OrderSystemIdentity.loyaltyWorker.name).merging(["PYTHONUNBUFFERED": "1"]) { $1 })
        return workers.map(\.name) + ["loyalty-worker (Python)"]
    }
}
