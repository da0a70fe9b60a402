import Ferry
import FerryTestSupport
import Foundation
import GRDB
import OrderSystemKit

/// A real order system for one test: ferryd on an ephemeral port, the worker processes the
/// test asks for and orders-api, each with its own directory under one temporary root, all
/// killed and removed when the harness is released. Secured, it runs as the demo does: ferryd
/// serves CURVE with the demo's credentials (``OrderSystemKeys``), each process connects as the
/// identity named after its executable, and ``bus`` as the `operator` (statistics and dead
/// letters; not ``history(_:)``, which the operator may not read: ask orders-api).
final class OrderSystemHarness: @unchecked Sendable {
    // @unchecked: `processes` is only touched by the test's own task.
    let ferryd: Ferryd
    let root: URL
    let bus: EventBus
    /// The keys and credentials of a secured system (nil: plain connections).
    let keys: OrderSystemKeys?
    private(set) var processes: [String: ManagedProcess] = [:]
    private(set) var client: OrdersClient?

    /// Quick retries so failure paths finish in a test's time.
    static let quickRetries = ["--retry-initial-ms", "100", "--retry-multiplier", "2", "--retry-max-ms", "1000", "--max-attempts", "3"]

    init(secured: Bool = false) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("order-system-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        do {
            let keys = secured ? try OrderSystemKeys.generate(in: root.appendingPathComponent("keys").path) : nil
            // Short liveness timeouts: a killed worker's deliveries move on within about a second.
            ferryd = try await Ferryd(["--heartbeat-ms", "200", "--peer-timeout-ms", "1000"] + (keys?.ferrydArguments ?? []))
            bus = try EventBus(
                configuration: keys?.clientConfiguration(endpoint: ferryd.endpoint, clientName: "order-system-test", as: "operator")
                    ?? ClientConfiguration(endpoint: ferryd.endpoint, clientName: "order-system-test"))
            self.keys = keys
            self.root = root
        } catch {
            try? FileManager.default.removeItem(at: root)
            throw error
        }
    }

    deinit {
        processes.removeAll()
        try? FileManager.default.removeItem(at: root)
    }

    func directory(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// Starts `executable` as the process named `name` (default: the executable), with its
    /// state in `directory(stateName ?? name)`; secured, it connects as `identity` (default: the
    /// executable's).
    @discardableResult
    func start(
        _ executable: String, name: String? = nil, state stateName: String? = nil, identity: String? = nil, _ arguments: [String] = []
    ) throws
        -> ManagedProcess
    {
        let name = name ?? executable
        let process = try ManagedProcess(
            product: executable,
            arguments: [
                "--broker", ferryd.endpoint, "--data-dir", directory(stateName ?? name).path, "--log-level", "warning",
                "--exit-with-parent",
            ]
                + (keys?.arguments(of: identity ?? executable) ?? []) + Self.quickRetries + arguments)
        processes[name] = process
        return process
    }

    /// Kills the process named `name` with `signal` and waits for it to exit.
    func kill(_ name: String, signal: Int32 = SIGKILL) async {
        guard let process = processes.removeValue(forKey: name) else { return }
        process.send(signal)
        _ = await process.waitForExit(timeout: .seconds(10))
    }

    /// Starts orders-api on a free port and waits until it answers.
    @discardableResult
    func startAPI(_ arguments: [String] = []) async throws -> OrdersClient {
        let portFile = directory("orders-api.port")
        try? FileManager.default.removeItem(at: portFile)
        try start("orders-api", ["--port", "0", "--port-file", portFile.path] + arguments)
        let readPort: @Sendable () -> Int? = {
            (try? String(contentsOf: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        _ = await Wait.until(timeout: .seconds(30)) { readPort() != nil }
        guard let port = readPort() else { throw HarnessError(message: "orders-api did not listen within 30 s") }
        let client = OrdersClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!)
        guard await Wait.until(timeout: .seconds(10), { (try? await client.send("GET", "/health").status) == 200 }) else {
            throw HarnessError(message: "orders-api did not answer /health")
        }
        self.client = client
        return client
    }

    /// Waits until every named group has a member.
    func waitForGroups(_ names: [String], timeout: Duration = .seconds(30)) async throws {
        let subscribed = await Wait.until(timeout: timeout) {
            let live = Set((try? await self.bus.groups())?.filter { $0.members > 0 }.map(\.name) ?? [])
            return live.isSuperset(of: names)
        }
        if !subscribed { throw HarnessError(message: "groups \(names) did not all subscribe within \(timeout)") }
    }

    /// Waits until the system is quiet: orders-api's outbox is published (checked first, so
    /// what it published is in the groups' lag), and every group has caught up, holds nothing in
    /// flight and has no retry pending. Handlers publish their follow-ups before they ack, so
    /// a quiet system has nothing left to happen.
    func waitUntilSettled(timeout: Duration = .seconds(60)) async -> Bool {
        let api = processes["orders-api"] == nil ? nil : client
        return await Wait.until(timeout: timeout) {
            if let api, await api.outboxPending() != 0 { return false }
            guard let groups = try? await self.bus.groups(), !groups.isEmpty else { return false }
            return groups.allSatisfy { $0.lag == 0 && $0.inFlight == 0 && $0.pendingRetries == 0 }
        }
    }

    /// Places an order and returns its id.
    func placeOrder(user: String = "user-1", _ items: [LineItem] = [LineItem(productId: "sku-1", quantity: 1, priceCents: 1000)])
        async throws
        -> String
    {
        guard let client else { throw HarnessError(message: "orders-api is not running") }
        let reply = try await client.createOrder(userID: user, items: items)
        guard reply.status == 201, let id = reply.orderID else {
            throw HarnessError(message: "POST /api/orders → \(reply.status) \(reply.text)")
        }
        return id
    }

    /// The event types of `key`'s history in ferryd, oldest first.
    func history(_ key: String) async throws -> [String] {
        try await bus.history(key: key).sorted {
            ($0.event.storedAt, $0.event.createdAt, $0.offset) < ($1.event.storedAt, $1.event.createdAt, $1.offset)
        }.map(\.event.typeName)
    }

    /// One integer from a worker's SQLite database (nil if the database or row is missing).
    func integer(_ state: String, _ file: String, _ sql: String, _ arguments: StatementArguments = []) async throws -> Int? {
        let database = try database(state, file)
        return try await database.read { try Int.fetchOne($0, sql: sql, arguments: arguments) }
    }

    /// Opens a worker's SQLite database read-only.
    func database(_ state: String, _ file: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(path: directory(state).appendingPathComponent(file).path, configuration: configuration)
    }

    func group(_ name: String) async throws -> GroupSummary? { try await bus.groups().first { $0.name == name } }
}
