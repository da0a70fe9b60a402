import ArgumentParser
import Ferry
import Foundation
import OrderEvents

/// `order-system check-schemas`: whether every order event ferryd holds still decodes with this
/// build's event types and upcasters (see docs/event-versioning.md). Run it against the log of
/// the release before an event type changes; exits 1 when an event would fail its handlers.
struct CheckSchemas: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-schemas",
        abstract: "Check that every stored order event decodes with this build's types and upcasters.",
        discussion: "Reads each topic through an ephemeral group (nothing is left behind). Exit status: 0 every event decodes, 1 some do not.")

    @Option(help: "ferryd's endpoint.") var broker = ProcessInfo.processInfo.environment["FERRY_BROKER"] ?? "tcp://127.0.0.1:7400"
    @Option(name: .customLong("topic"), help: "A topic to check (repeatable; default: every order system event's topic).")
    var topics: [String] = []
    @Flag(help: "Check without the order system's upcasters: what a build that forgot them would make of the log.")
    var withoutUpcasters = false

    func run() async throws {
        let types: [any EventRepresentable.Type] = OrderSystemEvents.orderEventTypes + [UserAction.self]
        var configuration = ClientConfiguration(endpoint: broker, clientName: "order-system-check-schemas")
        configuration.security = try ClientSecurity.fromEnvironment()
        let upcasters = withoutUpcasters ? Upcasters() : OrderSystemUpcasters.all
        let bus = try EventBus(configuration: configuration)
        var failed = false
        do {
            for topic in topics.isEmpty ? types.map({ $0.topic }) : topics {
                let report = try await SchemaCheck.run(topic: topic, on: bus, types: types, upcasters: upcasters)
                print(report)
                failed = failed || !report.passed
            }
        } catch {
            await bus.close()
            throw error
        }
        await bus.close()
        if failed { throw ExitCode(1) }
    }
}
