import ArgumentParser
import Ferry
import Foundation
import Logging
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// Ferry's demo: ferryd, worker processes and traffic on one machine, narrated on stdout.
@main
struct FerryDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry-demo",
        abstract: "Run ferryd, demo workers and demo traffic, and print what happens.",
        subcommands: [RunDemo.self, DemoWorker.self],
        defaultSubcommand: RunDemo.self)
}

struct RunDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Start everything and send demo traffic.")

    @Option(help: "Endpoint for ferryd.") var endpoint = "tcp://127.0.0.1:7400"
    @Option(help: "Orders to place.") var orders = 12
    @Option(help: "User actions to send (handled in batches).") var userActions = 120
    @Flag(help: "Keep everything running after the traffic, until Ctrl-C.") var keepRunning = false
    @Option(help: "ferryd's data directory (default: a fresh temporary one, removed afterwards).") var dataDir: String?

    func run() async throws {
        bootstrapQuietLogging()
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var children: [Process] = []
        defer {
            for child in children.reversed() where child.isRunning {
                kill(child.processIdentifier, SIGTERM)
                child.waitUntilExit()
            }
        }
        let data = dataDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("ferry-demo-\(UUID().uuidString)").path
        defer { if dataDir == nil { try? FileManager.default.removeItem(atPath: data) } }
        say("== starting ferryd on \(endpoint), durable log in \(data)")
        children.append(
            try launch(directory.appendingPathComponent("ferryd"), ["--endpoint", endpoint, "--log-level", "warning", "--data-dir", data]))
        let bus = try EventBus(configuration: ClientConfiguration(endpoint: endpoint, clientName: "demo-publisher"))
        guard try await waitForBroker(bus) else { throw ValidationError("ferryd did not answer on \(endpoint)") }

        let workers: [(role: String, name: String)] = [
            ("email", "email-1"), ("email", "email-2"), ("payment", "payment"), ("inventory", "inventory"), ("analytics", "analytics"),
        ]
        say("== starting \(workers.count) worker processes: \(workers.map(\.name).joined(separator: ", "))")
        for worker in workers {
            children.append(
                try launch(CommandLine.arguments[0], ["worker", "--endpoint", endpoint, "--role", worker.role, "--name", worker.name]))
        }
        let groups = ["email", "payment", "inventory", "analytics"]
        guard await waitUntil(seconds: 30, { (try? await bus.groups().filter { $0.members > 0 }.count) == groups.count }) else {
            throw ValidationError("the workers did not subscribe")
        }

        say("== placing \(orders) orders (one with an invalid quantity) and \(userActions) user actions")
        for index in 0..<orders {
            let quantity = index == orders / 2 ? 0 : 1 + index % 3
            let items = [LineItem(productID: "sku-\(1 + index % 3)", quantity: quantity, price: 25)]
            let order = OrderCreated(orderID: "order-\(index)", userID: "user-\(index % 5)", items: items, total: 25 * quantity)
            let receipt = try await bus.publish(order, id: "demo-\(UUID().uuidString.prefix(8))-\(index)")
            say("published OrderCreated \(order.orderID) -> offset \(receipt.offset)")
            try await Task.sleep(for: .milliseconds(100))
        }
        let actions = ["view", "click", "add-to-cart", "checkout"]
        try await bus.publish(batch: (0..<userActions).map { UserAction(userID: "user-\($0 % 9)", action: actions[$0 % actions.count]) })
        say("published \(userActions) UserAction events in one batch")

        _ = await waitUntil(seconds: 30) {
            guard let summary = try? await bus.groups() else { return false }
            return summary.allSatisfy { $0.lag == 0 && $0.inFlight == 0 && $0.pendingRetries == 0 }
        }
        say("\n== consumer groups")
        say("group       members  in-flight  retries  dead-letters  lag")
        for group in try await bus.groups() {
            say(
                group.name.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + "\(group.members)".padding(toLength: 9, withPad: " ", startingAt: 0)
                    + "\(group.inFlight)".padding(toLength: 11, withPad: " ", startingAt: 0)
                    + "\(group.pendingRetries)".padding(toLength: 9, withPad: " ", startingAt: 0)
                    + "\(group.deadLetters)".padding(toLength: 14, withPad: " ", startingAt: 0) + "\(group.lag)")
        }
        for letter in try await bus.deadLetters(group: "inventory") {
            say(
                "dead letter #\(letter.id) in inventory: \(letter.event.typeName) \(letter.event.id), \(letter.reason), attempts \(letter.attempts): \(letter.lastError)"
            )
        }
        let history = try await bus.history(key: "order-3")
        say("\n== history of key order-3 (from the durable log)")
        for item in history {
            say("  \(item.topic)@\(item.offset) \(item.event.typeName) id=\(item.event.id) correlation=\(item.event.correlationID ?? "-")")
        }
        if keepRunning {
            say("\n== running; Ctrl-C to stop")
            for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { break }
        }
        say("\n== stopping workers and ferryd")
        await bus.close()
    }

    private func launch(_ executable: URL, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        try process.run()
        return process
    }

    private func launch(_ path: String, _ arguments: [String]) throws -> Process {
        try launch(URL(fileURLWithPath: path), arguments)
    }

    private func waitForBroker(_ bus: EventBus) async throws -> Bool {
        await waitUntil(seconds: 20) { (try? await bus.groups()) != nil }
    }

    private func waitUntil(seconds: Int, _ condition: @Sendable () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}

/// Writes a line to stdout at once (stdout may be a pipe, where print buffers).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// The demo narrates on stdout; logs show errors only.
func bootstrapQuietLogging() {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .error
        return handler
    }
}
