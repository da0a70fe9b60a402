import ArgumentParser
import FerryProtocol
import Foundation
import Histogram

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the peer benchmark's workloads (../shared/peers/README.md) against ferryd and prints
/// the same result lines, so Ferry's figures sit beside NATS, Redis and RabbitMQ.
@main
struct FerryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry-bench",
        abstract: "Ferry's benchmarks: the peers' workload, and log recovery.",
        subcommands: [Workload.self, RecoveryBench.self],
        defaultSubcommand: Workload.self)
}

struct Workload: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workload",
        abstract: "The durable-ack workload (saturation, or fixed rate with --rate) against ferryd.",
        discussion: """
            Saturation prints: ferry MODE publish_eps e2e_eps p50_us p99_us p999_us
            Fixed rate prints: ferry MODE rate p50_us p90_us p99_us p999_us max_us achieved_eps
            """)

    @Option(help: "Target a running ferryd instead of starting one.") var endpoint: String?
    @Option(help: "fsync policy of the ferryd it starts: always, batch or never.") var fsync = "batch"
    @Option(help: "Storage of the ferryd it starts: log or memory.") var storage = "log"
    @Option(name: .shortAndLong, help: "Events (N).") var count: Int?
    @Option(name: .shortAndLong, help: "Most unconfirmed publishes (W).") var window = 1000
    @Option(name: [.customShort("l"), .long], help: "Payload bytes.") var payload = 100
    @Option(name: .shortAndLong, help: "Fixed rate in events per second (default: saturation).") var rate: Int?
    @Option(name: [.customShort("L"), .long], help: "Fixed rate: give up when this far behind (ms).") var maxLagMs = 1000
    @Option(help: "Label printed as the mode (default: the fsync policy).") var mode: String?
    @Option(help: "The ferryd executable (default: next to this one).") var ferryd: String?
    @Option(help: "Topic to publish to (default: a fresh one).") var topic: String?

    func run() throws {
        let events = count ?? rate.map { $0 * 10 } ?? 300_000
        var broker: Process?
        var dataDirectory: URL?
        defer {
            if let broker, broker.isRunning {
                broker.terminate()
                broker.waitUntilExit()
            }
            if let dataDirectory { try? FileManager.default.removeItem(at: dataDirectory) }
        }
        let target: String
        if let endpoint {
            target = endpoint
        } else {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            dataDirectory = directory
            let endpointFile = directory.appendingPathComponent("endpoint").path
            let process = Process()
            process.executableURL = URL(
                fileURLWithPath: ferryd
                    ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ferryd").path)
            process.arguments = [
                "--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", endpointFile, "--data-dir",
                directory.appendingPathComponent("data").path,
                "--storage", storage, "--fsync", fsync, "--log-level", "warning", "--max-stored-bytes", "\(4 << 30)",
            ]
            try process.run()
            broker = process
            let deadline = Date().addingTimeInterval(20)
            while !FileManager.default.fileExists(atPath: endpointFile) && Date() < deadline { usleep(10_000) }
            target = try String(contentsOfFile: endpointFile, encoding: .utf8)
        }

        let clients = BenchClients(
            endpoint: target, count: events, window: window, payloadSize: payload, topic: topic ?? "bench-\(UUID().uuidString.prefix(8))",
            rate: rate,
            maxLagNanoseconds: UInt64(maxLagMs) * 1_000_000)
        let ready = DispatchSemaphore(value: 0)
        let consumerDone = DispatchSemaphore(value: 0)
        let results = ResultBox()
        let consumer = Thread {
            results.consumer = Result { try clients.runConsumer(ready: ready) }
            consumerDone.signal()
        }
        consumer.stackSize = 8 << 20
        consumer.start()
        ready.wait()
        let publisher = try clients.runPublisher()
        if publisher.gaveUpAfter != nil {
            // Not sustained: the consumer will never see every event.
            let elapsed = Double(monotonicNanoseconds() - publisher.firstPublish) / 1e9
            print("ferry \(mode ?? fsync) \(rate ?? 0) NA NA NA NA NA \(Int(Double(publisher.gaveUpAfter ?? 0) / elapsed))")
            FileHandle.standardError.write(Data("# INCOMPLETE RUN: publisher fell \(maxLagMs) ms behind\n".utf8))
            throw ExitCode(1)
        }
        consumerDone.wait()
        let consumed = try results.consumer!.get()
        let first = Double(publisher.firstPublish)
        let publishSeconds = (Double(publisher.lastConfirm) - first) / 1e9
        let e2eSeconds = (Double(consumed.finalAckProcessed) - first) / 1e9
        let latencies = consumed.latencies
        let label = mode ?? fsync
        FileHandle.standardError.write(
            Data(
                ("# confirmed \(publisher.confirmed) rejected \(publisher.rejected) received \(consumed.received) duplicates \(consumed.duplicates) "
                    + "malformed \(consumed.malformed) batches \(consumed.batches) (avg \(consumed.received / max(1, consumed.batches)))"
                    + (broker.map { " ferryd peak RSS \(Self.peakResidentMegabytes(pid: $0.processIdentifier)) MB" } ?? "") + "\n").utf8))
        let complete = consumed.received == events && publisher.confirmed == events
        if let rate {
            print(
                "ferry \(label) \(rate) \(p(latencies, 50)) \(p(latencies, 90)) \(p(latencies, 99)) \(p(latencies, 99.9)) "
                    + "\(Double(latencies.max)) \(Int(Double(events) / e2eSeconds))")
        } else {
            print(
                "ferry \(label) \(Int(Double(events) / publishSeconds)) \(Int(Double(events) / e2eSeconds)) "
                    + "\(p(latencies, 50)) \(p(latencies, 99)) \(p(latencies, 99.9))")
        }
        if !complete {
            FileHandle.standardError.write(Data("# INCOMPLETE RUN\n".utf8))
            throw ExitCode(1)
        }
    }

    private func p(_ histogram: Histogram<UInt64>, _ percentile: Double) -> String {
        String(format: "%.1f", Double(histogram.valueAtPercentile(percentile)))
    }

    static func peakResidentMegabytes(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) / 1024
    }
}

/// Hands the consumer thread's result back.
final class ResultBox: @unchecked Sendable {
    // @unchecked: written once by the consumer thread before it signals, read after the wait.
    var consumer: Result<ConsumerResult, any Error>?
}
