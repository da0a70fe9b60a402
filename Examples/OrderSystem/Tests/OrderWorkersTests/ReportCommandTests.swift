import FerryTestSupport
import Foundation
import Testing

/// The workers' read-only report commands: only the options they use, and a clear failure,
/// creating nothing, when the data directory or database is not there.
@Suite("worker report commands")
struct ReportCommandTests {
    /// Each worker's report command and the database it reads.
    static let reports: [(product: String, arguments: [String], database: String)] = [
        ("inventory-worker", ["stock"], "inventory.sqlite"),
        ("payment-worker", ["payments"], "payments.sqlite"),
        ("fulfillment-worker", ["status"], "fulfillment.sqlite"),
        ("notification-worker", ["list"], "notifications.sqlite"),
        ("audit-worker", ["show", "o-1"], "audit.sqlite"),
        ("analytics-worker", ["report"], "analytics.sqlite"),
    ]

    /// A finished run of a command: its exit status and what it printed on each stream.
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ product: String, _ arguments: [String]) async throws -> Run {
        // Output goes to files, not pipes: a pipe is at its end only once every process holding
        // its write end closed it, and a process another test starts meanwhile may inherit it;
        // a blocking read of it would then hold one of the cooperative pool's threads for good.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("report-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("stdout")
        let errURL = directory.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = try BuildProducts.url(of: product)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        guard await Wait.until(timeout: .seconds(20), { !process.isRunning }) else {
            process.terminate()
            throw HarnessError(message: "\(product) \(arguments) did not exit")
        }
        return Run(
            status: process.terminationStatus, stdout: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
            stderr: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self))
    }

    @Test("a missing data directory or database fails with a clear message and creates nothing")
    func missingState() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("report-test-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let missing = root.appendingPathComponent("nowhere")
        let empty = root.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        for report in Self.reports {
            let noDirectory = try await Self.run(report.product, report.arguments + ["--data-dir", missing.path])
            #expect(noDirectory.status != 0, "\(report.product) \(report.arguments) exited 0")
            #expect(noDirectory.stderr.contains("no data directory at \(missing.path)"), "\(noDirectory.stderr)")
            #expect(!FileManager.default.fileExists(atPath: missing.path), "\(report.product) created \(missing.path)")

            let noDatabase = try await Self.run(report.product, report.arguments + ["--data-dir", empty.path])
            #expect(noDatabase.status != 0)
            #expect(noDatabase.stderr.contains("no \(report.database) in \(empty.path)"), "\(noDatabase.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: empty.path).isEmpty, "\(report.product) created files")
        }
    }

    @Test("report commands list only the options they use")
    func reportHelp() async throws {
        for report in Self.reports {
            let help = try await Self.run(report.product, [report.arguments[0], "--help"])
            #expect(help.status == 0)
            #expect(help.stdout.contains("--data-dir"), "\(help.stdout)")
            for unused in ["--broker", "--log-level", "--exit-with-parent", "--retry", "--fail-rate"] {
                #expect(!help.stdout.contains(unused), "\(report.product) \(report.arguments[0]) lists \(unused)")
            }
        }
    }

    @Test("orders-api run --help wraps its description without stray line breaks")
    func ordersAPIHelp() async throws {
        let help = try await Self.run("orders-api", ["run", "--help"])
        #expect(help.status == 0)
        let description = help.stdout.components(separatedBy: "USAGE:")[0]
        let lines = description.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        // A hard line break inside the text leaves a short line mid-paragraph ("and").
        for (index, line) in lines.enumerated().dropFirst().dropLast() where !line.isEmpty {
            #expect(line.count > 40, "line \(index) of the help is cut short: \(line.debugDescription)")
        }
        #expect(description.contains("GET /api/orders"))
    }
}
