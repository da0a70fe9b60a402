import ArgumentParser
import Ferry
import Foundation
import Logging
import OrderSystemKit

/// order-system: the whole order system on one machine — ferryd, every worker, the API and
/// demo traffic — narrated on stdout.
@main
struct OrderSystemCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-system",
        abstract: "Run ferryd, the order system's workers and API, send demo traffic, and print what happens.",
        subcommands: [RunAll.self, CheckSchemas.self],
        defaultSubcommand: RunAll.self)
}

struct RunAll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Start everything and send demo traffic.")

    @Option(help: "ferryd's endpoint.") var endpoint = "tcp://127.0.0.1:7400"
    @Option(help: "orders-api's port.") var apiPort = 8080
    @Option(help: "ferryd's HTTP listener: metrics, API and web console (HOST:PORT, or off).") var httpEndpoint = "127.0.0.1:7480"
    @Option(help: "Orders to place.") var orders = 20
    @Option(help: "User actions (page views, cart changes) to send; analytics handles them in batches.") var userActions = 300
    @Option(help: "Where every process keeps its state (default: a fresh temporary directory, removed afterwards).") var dataDir: String?
    @Flag(help: "Keep everything running after the traffic, until Ctrl-C.") var keepRunning = false
    @Flag(
        help: ArgumentHelp(
            "Run without security: no CURVE, no credentials, every process may do everything.",
            discussion: "By default ferryd serves CURVE, and each process connects as its own identity with only the grants it needs."))
    var insecureDemo = false
    @Option(help: ArgumentHelp("The ferryd executable (default: ferryd next to order-system, else on the PATH).", valueName: "path"))
    var ferryd: String?
    @Option(
        help: ArgumentHelp(
            "A Python interpreter with the ferry_client package's requirements: runs the loyalty worker beside the Swift ones.",
            valueName: "path"))
    var python: String?
    @Option(help: ArgumentHelp("The loyalty worker's script (python/loyalty_worker.py).", valueName: "path"))
    var loyaltyWorker: String?

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let root =
            dataDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("order-system-\(UUID().uuidString.prefix(8))").path
        let children = ChildProcesses()
        guard let ferryd = ferryd ?? children.locate("ferryd") else {
            throw ValidationError(
                "no ferryd next to order-system nor on the PATH: build the root package (swift build) and pass "
                    + "--ferryd <its bin path>/ferryd")
        }
        defer {
            children.stopAll()
            if dataDir == nil { try? FileManager.default.removeItem(atPath: root) }
        }
        // ferryd's key pair, one per identity, and the credentials granting each its part.
        let keys = insecureDemo ? nil : try OrderSystemKeys.generate(in: URL(fileURLWithPath: root).appendingPathComponent("keys").path)
        var layout = DemoLayout(root: root, endpoint: endpoint, apiPort: apiPort, keys: keys)
        layout.httpEndpoint = httpEndpoint
        if let python, let loyaltyWorker { layout.pythonWorker = (python, loyaltyWorker) }
        // The demo itself is two identities: the operator who watches (statistics, dead letters)
        // and the storefront whose users' actions it sends.
        let bus = try EventBus(configuration: layout.clientConfiguration(name: "order-system", as: OrderSystemIdentity.operator.name))
        let storefront = try EventBus(
            configuration: layout.clientConfiguration(name: "order-system-storefront", as: OrderSystemIdentity.storefront.name))
        defer {
            Task {
                await bus.close()
                await storefront.close()
            }
        }

        say("== ferryd on \(endpoint); every process keeps its state under \(root)")
        if let keys {
            say(
                "== secured: CURVE on every connection, one identity per process with only the grants it needs "
                    + "(keys and credentials in \(keys.directory))")
        } else {
            say("== insecure demo (--insecure-demo): no CURVE, no identities, every process may do everything")
        }
        try layout.startBroker(children, ferryd: ferryd)
        guard await Poll.until(seconds: 20, { (try? await bus.groups()) != nil }) else {
            throw ValidationError("ferryd did not answer on \(endpoint)")
        }
        let processes = try layout.startWorkers(children)
        say("== started \(processes.count) processes: \(processes.joined(separator: ", "))")
        let client = OrdersClient(baseURL: URL(string: "http://127.0.0.1:\(apiPort)")!)
        guard await Poll.until(seconds: 30, { (try? await client.send("GET", "/health").status) == 200 }) else {
            throw ValidationError("orders-api did not answer on port \(apiPort) (see its log above)")
        }
        let groups = Set(layout.groups)
        guard
            await Poll.until(
                seconds: 30, { Set((try? await bus.groups())?.filter { $0.members > 0 }.map(\.name) ?? []).isSuperset(of: groups) })
        else { throw ValidationError("not every handler group subscribed: \(children.exited) exited") }
        say("== orders-api on http://127.0.0.1:\(apiPort); handler groups subscribed: \(groups.sorted().joined(separator: ", "))")

        let traffic = DemoTraffic(client: client, bus: storefront, say: say)
        let placed = try await traffic.placeOrders(orders)
        _ = await DemoReport.waitUntilSettled(bus, client)
        try await traffic.moveOrders(placed)
        try await traffic.sendUserActions(userActions)
        say("== waiting for every group to settle (lag 0, nothing in flight, no retries pending, no scheduled event waiting)")
        let settled = await DemoReport.waitUntilSettled(bus, client, scheduled: true)
        if !settled { say("   (not settled within the deadline; the tables show where things stand)") }

        let report = DemoReport(client: client, bus: bus, layout: layout, say: say)
        try await report.printOrders(placed)
        try await report.printGroups()
        try await report.printDeadLetters()
        try await report.printSaga(placed)
        try await report.printDeadLetterTrace()
        report.printOutputs()
        if let keys { try await RefusedAction(layout: layout, keys: keys, say: say).show() }

        if keepRunning {
            say("\n== everything keeps running (ferryd \(endpoint), API http://127.0.0.1:\(apiPort)); Ctrl-C stops it")
            if httpEndpoint != "off" {
                say(
                    "   ferryd's console: http://\(httpEndpoint)/console"
                        + (keys == nil ? "" : " (sign in as operator, password \(OrderSystemIdentity.demoConsolePassword))"))
            }
            if let keys {
                say(
                    "   ferry as the operator: FERRY_SERVER_KEY=\(keys.directory)/ferryd.key "
                        + "FERRY_CLIENT_KEY_FILE=\(keys.directory)/operator.key_secret ferry --broker \(endpoint) groups")
            }
            await waitForInterrupt()
        }
        say("== stopping")
    }

    private func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}

/// Waits on a condition with a deadline (never a fixed sleep standing in for readiness).
enum Poll {
    static func until(seconds: Double, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return await condition()
    }
}

/// Returns on SIGINT or SIGTERM.
func waitForInterrupt() async {
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
    let sources = [SIGINT, SIGTERM].map { number in
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { continuation.yield() }
        source.resume()
        return source
    }
    for await _ in stream { break }
    sources.forEach { $0.cancel() }
}
