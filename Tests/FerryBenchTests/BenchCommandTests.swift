import FerryTestSupport
import Foundation
import Testing

/// `ferry bench` against real ferryd processes: short bounded runs whose JSON must add up, a
/// fixed-rate run, and the error paths. Never asserts on speed.
@Suite(.serialized)
struct BenchCommandTests {
    @Test func boundedRunReportsConsistentJSON() async throws {
        let run = try await BenchInvocation.run(["-n", "3000", "--spawn", "--storage", "memory", "--json", "--quiet"])
        #expect(run.status == 0)
        let report = try run.json()
        #expect(report.complete)
        #expect(report.events.published == 3000)
        #expect(report.events.confirmed == 3000)
        #expect(report.events.rejected == 0)
        #expect(report.events.consumedPerGroup == [3000])
        #expect(report.events.duplicates == 0)
        #expect(report.broker.started)
        let latency = try #require(report.latency)
        #expect(latency.p50 <= latency.p90 && latency.p90 <= latency.p99 && latency.p99 <= latency.p999 && latency.p999 <= latency.max)
        #expect(report.throughput.endToEnd > 0 && report.throughput.confirm > 0 && report.throughput.publish > 0)
    }

    @Test func severalPublishersGroupsAndWorkersOnTheDurableLog() async throws {
        let run = try await BenchInvocation.run([
            "-p", "2", "-g", "2", "-w", "2", "-n", "4000", "--spawn", "--fsync", "never", "--json", "--quiet",
        ])
        #expect(run.status == 0)
        let report = try run.json()
        #expect(report.complete)
        #expect(report.events.confirmed == 4000)
        #expect(report.events.consumedPerGroup == [4000, 4000])
        #expect(report.broker.fsync == "never")
    }

    @Test func curveRunLoadsAFerrydServingCURVE() async throws {
        let run = try await BenchInvocation.run(["-n", "2000", "--spawn", "--storage", "memory", "--curve", "--json", "--quiet"])
        #expect(run.status == 0)
        let report = try run.json()
        #expect(report.complete)
        #expect(report.events.confirmed == 2000 && report.events.consumedPerGroup == [2000])
        #expect(report.broker.curve == true)
    }

    @Test func durationRunConsumesEverythingItPublished() async throws {
        let run = try await BenchInvocation.run(["--duration", "1", "--spawn", "--storage", "memory", "--json", "--quiet"])
        #expect(run.status == 0)
        let report = try run.json()
        #expect(report.complete)
        #expect(report.events.published > 0)
        #expect(report.events.consumedPerGroup == [report.events.confirmed])
    }

    @Test func fixedRateRunReportsTheScheduleAndPercentiles() async throws {
        // A generous lag allowance: a slow debug build must not turn this into "not sustained".
        let run = try await BenchInvocation.run([
            "--rate", "500", "-n", "1000", "--max-lag-ms", "60000", "--spawn", "--storage", "memory", "--json", "--quiet",
        ])
        #expect(run.status == 0)
        let report = try run.json()
        #expect(report.complete)
        let fixed = try #require(report.fixedRate)
        #expect(fixed.rate == 500)
        #expect(!fixed.notSustained)
        #expect(fixed.achieved > 0)
        #expect(report.latency != nil)
    }

    @Test func peersWorkloadPrintsTheirResultLine() async throws {
        let run = try await BenchInvocation.run([
            "peers", "--rate", "500", "-n", "1000", "--max-lag-ms", "60000", "--spawn", "--storage", "memory", "--quiet",
        ])
        #expect(run.status == 0)
        // system mode rate p50 p90 p99 p999 max achieved
        let fields = try #require(run.output.last).split(separator: " ")
        #expect(fields.count == 9)
        #expect(fields.first == "ferry" && fields[1] == "memory" && fields[2] == "500")
        #expect(fields[3...].allSatisfy { Double($0) != nil })
    }

    @Test func targetsARunningBroker() async throws {
        let ferryd = try await Ferryd(["--storage", "memory"])
        let run = try await BenchInvocation.run(["--broker", ferryd.endpoint, "-n", "2000", "--json", "--quiet"])
        #expect(run.status == 0)
        let report = try run.json()
        #expect(!report.broker.started)
        #expect(report.broker.endpoint == ferryd.endpoint)
        #expect(report.events.consumedPerGroup == [2000])
    }

    @Test func peersLineAgainstARunningBrokerNamesItExternal() async throws {
        // The bench cannot see a running broker's fsync policy: the mode says `external` (it
        // said `running`), or what --mode names.
        let ferryd = try await Ferryd(["--storage", "memory"])
        let run = try await BenchInvocation.run([
            "peers", "--broker", ferryd.endpoint, "--rate", "500", "-n", "500", "--max-lag-ms", "60000", "--quiet",
        ])
        #expect(run.status == 0)
        let fields = try #require(run.output.last).split(separator: " ")
        #expect(fields.count == 9)
        #expect(fields.first == "ferry" && fields[1] == "external", "\(run.output)")
        let labelled = try await BenchInvocation.run([
            "peers", "--broker", ferryd.endpoint, "--rate", "500", "-n", "500", "--max-lag-ms", "60000", "--mode", "memory", "--quiet",
        ])
        #expect(labelled.status == 0)
        #expect(try #require(labelled.output.last).split(separator: " ")[1] == "memory")
    }

    @Test func peersLineNamesTheStartedFerrydsFsyncPolicy() async throws {
        let run = try await BenchInvocation.run([
            "peers", "--rate", "500", "-n", "500", "--max-lag-ms", "60000", "--spawn", "--fsync", "never", "--quiet",
        ])
        #expect(run.status == 0)
        #expect(try #require(run.output.last).split(separator: " ")[1] == "never")
    }

    @Test func sweepPrintsOneLinePerPolicyAndRateInOrder() async throws {
        let run = try await BenchInvocation.run([
            "sweep", "--rates", "600,300", "--fsync", "never,batch", "--duration", "1", "--max-lag-ms", "60000", "--no-saturation",
        ])
        #expect(run.status == 0, "\(run.output)")
        let lines = run.output.filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ") }
        // Rates in increasing order within each policy; the peers' fixed-rate line for each.
        #expect(lines.map { $0.prefix(3).joined(separator: " ") } == ["ferry never 300", "ferry never 600", "ferry batch 300", "ferry batch 600"])
        #expect(lines.allSatisfy { $0.count == 9 && $0[3...].allSatisfy { Double($0) != nil } }, "\(run.output)")
    }

    @Test func sweepSkipsThePolicysHigherRatesOnceOneIsNotSustained() async throws {
        let run = try await BenchInvocation.run([
            "sweep", "--rates", "2000000,4000000", "--fsync", "never", "--duration", "1", "--max-lag-ms", "1", "--no-saturation",
        ])
        #expect(run.status == 0, "a rate not sustained is a result, not a failure: \(run.output)")
        let lines = run.output.filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ") }
        #expect(lines.count == 1, "\(run.output)")
        let fields = try #require(lines.first)
        #expect(fields.count == 9 && fields[2] == "2000000" && fields[3...7].allSatisfy { $0 == "NA" }, "\(run.output)")
        #expect(run.output.contains { $0.hasPrefix("# never: 2000000 events/s not sustained") })
    }

    @Test(arguments: [
        ["sweep", "--rates", "1000,fast"], ["sweep", "--rates", "", "--no-saturation"], ["sweep", "--fsync", "never,sometimes"],
        ["sweep", "--duration", "0"], ["sweep", "--rates", "0"],
    ])
    func sweepRefusesBadArguments(_ arguments: [String]) async throws {
        let run = try await BenchInvocation.run(arguments, timeout: .seconds(30))
        #expect(run.status == 64)
    }

    @Test func recoveryTimesARestartedFerrydOnTheLogItWrote() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-bench-recovery-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try await BenchInvocation.run(["recovery", "--megabytes", "2", "--directory", directory.path])
        #expect(run.status == 0, "\(run.output)")
        // "# wrote N events, 2 MiB in S s", then "recovery 2MiB records N seconds S (R MiB/s)".
        let wrote = try #require(run.output.first).split(separator: " ")
        let recovery = try #require(run.output.last).split(separator: " ")
        #expect(wrote.count > 3 && wrote[1] == "wrote")
        #expect(recovery.count == 8 && recovery[0] == "recovery" && recovery[1] == "2MiB")
        let events = try #require(Int(wrote[2]))
        #expect(events > 0 && recovery[3] == wrote[2], "every event written is recovered")
        #expect(try #require(Double(recovery[5])) >= 0)
        // The log stays in the directory given.
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("topics/recovery").path))
    }

    @Test func unreachableBrokerFailsWithinTheTimeout() async throws {
        // Nothing listens on port 1; the bench must give up after its connect timeout, exit 69.
        let run = try await BenchInvocation.run(
            ["--broker", "tcp://127.0.0.1:1", "--connect-timeout-ms", "1000", "-n", "10", "--quiet"], timeout: .seconds(30))
        #expect(run.status == 69)
        #expect(run.output.isEmpty)
    }

    @Test(arguments: [
        ["--payload", "8"], ["-n", "10", "--duration", "1"], ["--fsync", "sometimes"], ["--publishers", "0"],
        ["--broker", "not-an-endpoint"], ["peers", "--rate", "0"], ["peers", "--max-lag-ms", "0", "--broker", "tcp://127.0.0.1:1"],
        ["--broker", "tcp://127.0.0.1:1", "--fsync", "always"],
    ])
    func badArgumentsExitWithUsageError(_ arguments: [String]) async throws {
        let run = try await BenchInvocation.run(arguments + ["--quiet"], timeout: .seconds(30))
        #expect(run.status == 64)
    }
}

/// One `ferry bench …` process run to its end.
struct BenchInvocation {
    var status: Int32?
    var output: [String]

    /// Runs `ferry bench arguments` and waits for its exit, then (for a run that prints) until
    /// stdout has been read to its last line: a JSON document's closing brace, or any line.
    static func run(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> BenchInvocation {
        let process = try ManagedProcess(product: "ferry", arguments: ["bench"] + arguments, captureOutput: true)
        let status = await process.waitForExit(timeout: timeout)
        if status == 0 {
            let json = arguments.contains("--json")
            _ = await Wait.until(timeout: .seconds(5)) {
                guard let last = process.outputLines.last else { return false }
                return !json || last == "}"
            }
        }
        return BenchInvocation(status: status, output: process.outputLines)
    }

    func json() throws -> BenchReport {
        try JSONDecoder().decode(BenchReport.self, from: Data(output.joined(separator: "\n").utf8))
    }
}

/// The parts of `ferry bench --json` the tests read.
struct BenchReport: Decodable {
    struct Broker: Decodable {
        var endpoint: String
        var started: Bool
        var fsync: String?
        var curve: Bool?
    }
    struct Events: Decodable {
        var published: Int
        var confirmed: Int
        var rejected: Int
        var consumedPerGroup: [Int]
        var duplicates: Int
    }
    struct Throughput: Decodable {
        var publish: Double
        var confirm: Double
        var endToEnd: Double
    }
    struct Latency: Decodable {
        var p50: Double
        var p90: Double
        var p99: Double
        var p999: Double
        var max: Double
    }
    struct FixedRate: Decodable {
        var rate: Int
        var achieved: Double
        var notSustained: Bool
    }
    var broker: Broker
    var events: Events
    var throughput: Throughput
    var latency: Latency?
    var fixedRate: FixedRate?
    var complete: Bool
}
