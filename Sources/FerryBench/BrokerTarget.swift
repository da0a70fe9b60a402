import ArgumentParser
import FerryRuntime
import Foundation

/// fsync policies of a ferryd the bench starts.
enum FsyncPolicy: String, CaseIterable, ExpressibleByArgument, Codable, Sendable {
    case always, batch, never
}

/// Storage of a ferryd the bench starts.
enum StorageKind: String, CaseIterable, ExpressibleByArgument, Codable, Sendable {
    case log, memory
}

/// Which broker to load: a running one, or a ferryd the bench starts for the run.
struct BrokerOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Load a running broker at this endpoint (default: $FERRY_BROKER; without either, start a ferryd).", valueName: "endpoint"))
    var broker: String?

    @Flag(help: "Start a ferryd for the run even when FERRY_BROKER is set.")
    var spawn = false

    // These are optional so that giving one with a running broker, where it would do
    // nothing, can be refused.
    @Option(help: "fsync policy of the ferryd it starts (default: batch).")
    var fsync: FsyncPolicy?

    @Option(help: "Storage of the ferryd it starts (default: log).")
    var storage: StorageKind?

    @Option(help: ArgumentHelp("The ferryd executable to start (default: the one next to this ferry).", valueName: "path"))
    var ferryd: String?

    @Option(help: ArgumentHelp("Trace sampling of the ferryd it starts: all, failures, a fraction such as 0.1, or off (default: ferryd's, all).", valueName: "sampling"))
    var trace: String?

    @Flag(
        help:
            "Serve and load over CURVE: the ferryd it starts gets generated keys; a running broker's keys come from FERRY_SERVER_KEY and FERRY_CLIENT_KEY_FILE."
    )
    var curve = false

    @Option(name: .customLong("connect-timeout-ms"), help: "How long to wait for the broker's first answer.")
    var connectTimeoutMilliseconds = 5000

    var fsyncPolicy: FsyncPolicy { fsync ?? .batch }
    var storageKind: StorageKind { storage ?? .log }

    func validate() throws {
        if let broker, !broker.contains("://") {
            throw ValidationError("--broker must be a ZeroMQ endpoint such as tcp://127.0.0.1:7400")
        }
        if spawn && broker != nil { throw ValidationError("--spawn starts a ferryd and --broker names a running one: give one of them") }
        if runningBroker != nil {
            let given = [(fsync != nil, "--fsync"), (storage != nil, "--storage"), (ferryd != nil, "--ferryd"), (trace != nil, "--trace")]
                .filter(\.0).map(\.1)
            if !given.isEmpty {
                let reason =
                    broker != nil
                    ? "--broker names a running broker, so the bench starts no ferryd"
                    : "FERRY_BROKER names a running broker, so the bench starts no ferryd (add --spawn to start one)"
                throw ValidationError("\(given.joined(separator: ", ")) would do nothing: \(reason)")
            }
        }
        guard (1...3_600_000).contains(connectTimeoutMilliseconds) else {
            throw ValidationError("--connect-timeout-ms must be between 1 and 3600000 (an hour)")
        }
    }

    /// The endpoint to target, or nil to start a ferryd.
    var runningBroker: String? {
        if spawn { return nil }
        if let broker { return broker }
        let fromEnvironment = ProcessInfo.processInfo.environment["FERRY_BROKER"] ?? ""
        return fromEnvironment.isEmpty ? nil : fromEnvironment
    }
}

/// The broker a run loads. A started ferryd listens on an ephemeral loopback port with its
/// data in a temporary directory; ``close()`` stops it and removes the directory.
final class BrokerTarget {
    let endpoint: String
    /// The keys to connect with, when the broker serves CURVE.
    private(set) var curve: BenchCurve?
    /// Set when the bench started the broker.
    private(set) var process: FerrydProcess?
    private var directory: URL?

    init(_ options: BrokerOptions) throws {
        if let running = options.runningBroker {
            endpoint = running
            curve = options.curve ? try BenchCurve.fromEnvironment() : nil
            return
        }
        let executable = try FerrydProcess.executable(options.ferryd)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var arguments = [
            "--data-dir", directory.appendingPathComponent("data").path,
            "--storage", options.storageKind.rawValue, "--fsync", options.fsyncPolicy.rawValue, "--log-level", "warning",
            "--max-stored-bytes", "\(4 << 30)",
        ]
        // The ferryd beside this executable is the same build and ends with the bench even if the
        // bench is killed; another one (`--ferryd`, for A/B runs) may predate the flag.
        if options.ferryd == nil { arguments.append("--exit-with-parent") }
        if let trace = options.trace { arguments += ["--trace", trace] }
        do {
            if options.curve {
                let generated = try BenchCurve.generate(in: directory)
                curve = generated.curve
                arguments += generated.ferrydArguments
            }
            let process = try FerrydProcess(
                executable: executable, arguments: arguments, endpointFile: directory.appendingPathComponent("endpoint").path)
            self.process = process
            endpoint = process.endpoint
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        self.directory = directory
    }

    /// Stops a started ferryd (SIGTERM, then SIGKILL after 10 s) and removes its directory.
    func close() {
        process?.stop()
        process = nil
        if let directory { try? FileManager.default.removeItem(at: directory) }
        directory = nil
    }

    deinit { close() }

    /// Peak resident memory of a started ferryd, in MiB.
    var peakResidentMegabytes: Int? { process?.peakResidentMegabytes }

    /// CPU seconds (user + system) a started ferryd used so far.
    var cpuSeconds: Double? { process?.cpuSeconds }
}
