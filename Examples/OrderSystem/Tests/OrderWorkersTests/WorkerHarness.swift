import Ferry
import FerryTestSupport
import Foundation
import GRDB
import OrderEvents

/// A real ferryd, a data directory and the worker processes of one test.
final class WorkerHarness: Sendable {
    let ferryd: Ferryd
    let bus: EventBus
    let dataDir: URL

    init() async throws {
        ferryd = try await Ferryd()
        bus = try EventBus(configuration: .init(endpoint: ferryd.endpoint, clientName: "order-workers-test"))
        dataDir = ferryd.directory.appendingPathComponent("workers")
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
    }

    /// Starts a worker executable's `run` with this harness's broker and data directory, fast
    /// retries, and `arguments`; returns once its groups are subscribed.
    func start(_ product: String, group: String, _ arguments: [String] = []) async throws -> ManagedProcess {
        let process = try ManagedProcess(product: product, arguments: runArguments + arguments)
        guard await members(of: group, become: { $0 > 0 }) else { throw HarnessError(message: "\(product) did not join group \(group)") }
        return process
    }

    /// A worker's `run` arguments for this harness's broker and data directory, with fast
    /// retries; the worker exits with the test process.
    var runArguments: [String] {
        [
            "run", "--broker", ferryd.endpoint, "--data-dir", dataDir.path, "--log-level", "warning", "--retry-initial-ms", "50",
            "--retry-max-ms", "200", "--exit-with-parent",
        ]
    }

    /// Waits up to 15 s for `group`'s member count to satisfy `condition`.
    func members(of group: String, become condition: @escaping @Sendable (Int) -> Bool) async -> Bool {
        await Wait.until(timeout: .seconds(15)) { [bus] in
            guard let members = try? await bus.groups().first(where: { $0.name == group })?.members else { return false }
            return condition(Int(members))
        }
    }

    /// Runs a worker executable's subcommand to completion and returns its stdout once
    /// `complete` holds for it (the pipe's last bytes may arrive just after the exit). Report
    /// commands take only `--data-dir`; `broker` adds `--broker` for those that talk to ferryd.
    func runCommand(
        _ product: String, _ arguments: [String], broker: Bool = false, complete: @escaping @Sendable (String) -> Bool = { !$0.isEmpty }
    ) async throws -> String {
        let process = try ManagedProcess(
            product: product, arguments: arguments + (broker ? ["--broker", ferryd.endpoint] : []) + ["--data-dir", dataDir.path],
            captureOutput: true)
        guard let status = await process.waitForExit(timeout: .seconds(20)), status == 0 else {
            throw HarnessError(message: "\(product) \(arguments) failed")
        }
        _ = await Wait.until(timeout: .seconds(2)) { complete(process.outputLines.joined(separator: "\n")) }
        return process.outputLines.joined(separator: "\n")
    }

    /// Runs a subcommand with `--json` and decodes what it prints (snake_case keys).
    func runJSON<T: Decodable>(_ product: String, _ arguments: [String], as type: T.Type) async throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let output = try await runCommand(product, arguments + ["--json"]) { (try? decoder.decode(T.self, from: Data($0.utf8))) != nil }
        return try decoder.decode(T.self, from: Data(output.utf8))
    }

    /// Rows of a query on one of the workers' databases.
    func count(_ database: String, _ sql: String) throws -> Int {
        try self.database(database).read { db in try Int.fetchOne(db, sql: sql) ?? 0 }
    }

    /// Deliveries `group` acked since ferryd started.
    func acked(_ group: String) async throws -> UInt64 {
        try await bus.stats().groups.first { $0.name == group }?.acked ?? 0
    }

    /// Waits until `group` acked `count` deliveries in all and holds nothing in flight.
    func waitUntilAcked(_ group: String, _ count: UInt64, timeout: Duration = .seconds(15)) async -> Bool {
        await Wait.until(timeout: timeout) { [self] in
            guard let summary = try? await bus.stats().groups.first(where: { $0.name == group }) else { return false }
            return summary.acked >= count && summary.inFlight == 0 && summary.pendingRetries == 0
        }
    }

    /// Opens one of the workers' SQLite databases for reading.
    func database(_ name: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        return try DatabaseQueue(path: dataDir.appendingPathComponent(name).path, configuration: configuration)
    }

    func close() async { await bus.close() }
}
