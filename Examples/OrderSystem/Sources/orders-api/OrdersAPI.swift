import ArgumentParser
import Ferry
import Foundation
import Hummingbird
import Logging
import OrderSystemKit

/// orders-api: the order system's HTTP front door. Orders live in SQLite; every change
/// publishes its events through a transactional outbox; the `orders` handler group cancels
/// orders whose stock could not be reserved (the saga).
@main
struct OrdersAPI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orders-api",
        abstract: "The order system's HTTP API (Hummingbird), with a transactional outbox to ferryd.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self)
}

/// `orders-api run`: serves HTTP, relays the outbox and runs the saga's handler group until
/// SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve the API.",
        discussion: """
            POST /api/orders, GET /api/orders (a page: ?limit=&after=&status=), GET /api/orders/:id, \
            PUT /api/orders/:id/confirm|ship|cancel, GET /api/orders/:id/events and GET /health. State \
            lives in <data-dir>/orders.sqlite; events ferryd refuses for good are kept, marked dead, and shown by its dead_outbox view.
            """)

    @OptionGroup var process: ProcessOptions
    @OptionGroup var retry: RetryArguments
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port; see --port-file).") var port = 8080
    @Option(help: "Write the port the server listens on to this file once it listens.") var portFile: String?
    @Flag(help: .hidden) var holdOutbox = false

    func run() async throws {
        let logger = process.bootstrapLogging(label: "orders-api")
        let store = try OrderStore(path: try process.path("orders.sqlite"))
        let bus = try EventBus(configuration: process.clientConfiguration(name: "orders-api"), logger: logger)
        let relay = OutboxRelay(store: store, bus: bus, held: holdOutbox, logger: logger)
        let worker = Worker(name: "orders-api", configuration: try process.clientConfiguration(name: "orders-api-saga"), logger: logger)
        OrderSaga(store: store, relay: relay, logger: logger).register(on: worker, options: retry.groupOptions)

        let router = Router(options: .autoGenerateHeadEndpoints)
        OrderRoutes(store: store, relay: relay, bus: bus, logger: logger).register(on: router)
        let portFile = portFile
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "orders-api"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? 0
                logger.info("orders-api listening", metadata: ["port": "\(bound)"])
                if let portFile { try? "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            }, logger: logger)
        try await WorkerProcess.run([app, relay, worker], options: process, logger: logger)
        await bus.close()
    }
}
