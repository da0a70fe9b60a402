import ArgumentParser
import FerryProtocol
import FerryRuntime
import Foundation
import ZeroMQ

/// `ferry bench recovery`: has a ferryd write a log of a given size, restarts it on that log, and
/// reports how long opening (recovering) the log took, every record's CRC checked, as the
/// restarted ferryd logs it ("log recovered": records, seconds).
struct BenchRecovery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Time the recovery of a log of --megabytes (every record's CRC is checked).",
        discussion: """
            Starts a ferryd (--fsync never) that stores --megabytes of events in one topic, stops it with \
            SIGTERM, starts it again on the same data directory and reads its recovery time from its log.
            """)

    @Option(help: "Log size to write, in MiB.") var megabytes = 1024
    @Option(help: "Payload bytes per event.") var payload = 100
    @Option(help: "Data directory of the ferryd (default: a temporary one, removed afterwards).") var directory: String?
    @Option(help: ArgumentHelp("The ferryd executable to start (default: the one next to this ferry).", valueName: "path"))
    var ferryd: String?

    func validate() throws {
        guard (1...1_048_576).contains(megabytes) else { throw ValidationError("--megabytes must be between 1 and 1048576 (1 TiB)") }
        guard (0...Bench.maxPayloadBytes).contains(payload) else {
            throw ValidationError("--payload must be between 0 and \(Bench.maxPayloadBytes) bytes")
        }
    }

    func run() throws {
        let control = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-recovery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: control, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: control) }
        do {
            try measure(control: control)
        } catch let error as BenchError {
            FileHandle.standardError.write(Data("ferry bench: error: \(error)\n".utf8))
            throw BenchExecution.exitCode(for: error.code)
        } catch let error as ZMQError {
            FileHandle.standardError.write(Data("ferry bench: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func measure(control: URL) throws {
        let executable = try FerrydProcess.executable(ferryd)
        var arguments = ["--data-dir", directory ?? control.appendingPathComponent("data").path, "--storage", "log", "--fsync", "never"]
        // The ferryd beside this executable ends with the bench even if the bench is killed; another
        // one (`--ferryd`) may predate the flag.
        if ferryd == nil { arguments.append("--exit-with-parent") }

        let written = Date()
        let writer = try FerrydProcess(
            executable: executable, arguments: arguments + ["--log-level", "error"],
            endpointFile: control.appendingPathComponent("endpoint").path)
        var recoveryLog = try RecoveryLog(endpoint: writer.endpoint, payloadBytes: payload)
        let events = try recoveryLog.write(bytes: megabytes << 20)
        guard writer.stop() == 0 else { throw BenchError(.ferrydFailed, "the ferryd that wrote the log did not exit cleanly") }
        print("# wrote \(events) events, \(megabytes) MiB in \(String(format: "%.1f", Date().timeIntervalSince(written))) s")

        let logPath = control.appendingPathComponent("ferryd.log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw BenchError(.ferrydFailed, "cannot write \(logPath)") }
        let reader = try FerrydProcess(
            executable: executable, arguments: arguments + ["--log-level", "info"],
            endpointFile: control.appendingPathComponent("endpoint").path, standardError: log)
        reader.stop()
        try? log.close()
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        guard let recovered = RecoveryLine(log: text) else {
            throw BenchError(.ferrydFailed, "the restarted ferryd logged no \"log recovered\" line")
        }
        print(
            "recovery \(megabytes)MiB records \(recovered.records) seconds \(String(format: "%.2f", recovered.seconds)) "
                + "(\(String(format: "%.0f", Double(megabytes) / recovered.seconds)) MiB/s)")
    }
}

/// ferryd's "log recovered" line: `... records=N seconds=S ... [FerryBroker] log recovered`.
struct RecoveryLine {
    let records: Int
    let seconds: Double

    init?(log: String) {
        guard let line = log.split(separator: "\n").last(where: { $0.hasSuffix("log recovered") }) else { return nil }
        var fields: [Substring: Substring] = [:]
        for token in line.split(separator: " ") {
            guard let equals = token.firstIndex(of: "=") else { continue }
            fields[token[..<equals]] = token[token.index(after: equals)...]
        }
        guard let records = fields["records"].flatMap({ Int($0) }), let seconds = fields["seconds"].flatMap({ Double($0) }) else {
            return nil
        }
        self.records = records
        self.seconds = seconds
    }
}

/// Publishes keyed events to one topic until the broker stores a given number of bytes (its
/// Stats' `stored_bytes`), going past it by at most one batch.
struct RecoveryLog {
    let connection: BenchConnection
    let payloadBytes: Int
    let topic = "recovery"
    private var requestID: UInt64 = 10

    init(endpoint: String, payloadBytes: Int) throws {
        connection = try BenchConnection(endpoint: endpoint)
        self.payloadBytes = payloadBytes
        var hello = Hello()
        hello.clientName = "ferry-bench-recovery"
        _ = try connection.request(.hello(hello), requestID: 1, timeoutMilliseconds: 5000, what: "Hello")
    }

    /// Returns how many events it published.
    mutating func write(bytes target: Int) throws -> Int {
        defer { connection.sayGoodbye() }
        // Batches of up to 1000 events that fit well within a frame.
        let batchSize = max(1, min(1000, ProtocolLimits().maxFrameBytes / 2 / (payloadBytes + 512)))
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: payloadBytes)
        var builder = PublishFrameBuilder(topic: topic)
        var ids = EventIDWriter(prefix: "id-")
        var keys = EventIDWriter(prefix: "key-")
        var published = 0
        var stored = try storedBytes()
        let start = stored
        while stored < target {
            // As many batches as surely fit below the target (estimated from what was stored so
            // far), at least one and at most 16 in flight.
            let perEvent = published > 0 ? max(1, (stored - start) / published) : payloadBytes + 64
            let batches = max(1, min(16, (target - stored) / perEvent / batchSize))
            var pending: Set<UInt64> = []
            for _ in 0..<batches {
                for index in published..<published + batchSize {
                    payload.withUnsafeBytes { bytes in
                        builder.append(sequence: UInt64(index + 1), id: ids.next(index), key: keys.next(index % 1000), payload: bytes)
                    }
                }
                published += batchSize
                requestID += 1
                builder.finish(requestID: requestID)
                try connection.send(body: builder.frame)
                pending.insert(requestID)
            }
            try awaitResults(&pending)
            stored = try storedBytes()
        }
        return published
    }

    /// Waits for the PublishResult of every request in `pending`; a rejected event is an error.
    private func awaitResults(_ pending: inout Set<UInt64>) throws {
        let stall = Nanoseconds.seconds(30)
        var lastProgress = MonotonicInstant.now()
        while !pending.isEmpty {
            guard MonotonicInstant.now() - lastProgress < stall else {
                throw BenchError(.stalled, "\(pending.count) publishes unanswered for 30 s")
            }
            try connection.poll(timeoutMilliseconds: 100)
            while try connection.receive({ body in
                let message = try WireFormat.decode(ServerMessage.self, from: body)
                switch message.reply {
                case .publishResult(let result):
                    guard pending.remove(message.requestID) != nil else { return }
                    lastProgress = MonotonicInstant.now()
                    if let rejection = result.rejected.first {
                        throw BenchError(.brokerError, "ferryd rejected an event: \(rejection.code): \(rejection.message)")
                    }
                case .error(let error): throw BenchError.broker(error)
                default: break
                }
            }) {}
            try connection.heartbeatIfIdle(now: MonotonicInstant.now())
        }
    }

    private mutating func storedBytes() throws -> Int {
        requestID += 1
        let reply = try connection.request(.stats(StatsRequest()), requestID: requestID, timeoutMilliseconds: 30_000, what: "Stats")
        guard case .stats(let stats) = reply.reply else { throw BenchError(.brokerError, "Stats answered with \(reply)") }
        return Int(stats.storedBytes)
    }
}
