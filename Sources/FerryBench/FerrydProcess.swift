import FerryRuntime
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A ferryd the bench started, listening on an ephemeral loopback port (it writes the bound
/// endpoint to `endpointFile`). The bench drives ferryd as a process and never links its
/// storage engine.
final class FerrydProcess {
    let endpoint: String
    private let process: Process

    /// Starts `executable` with `arguments` plus the endpoint flags, and waits (at most 20 s) until
    /// it listens: after it opened, and so recovered, its log. Its stderr goes to `standardError`
    /// when given.
    /// How often a starting or stopping ferryd is checked on.
    private static let pollInterval = Duration.milliseconds(5)

    init(executable: URL, arguments: [String], endpointFile: String, standardError: FileHandle? = nil) throws {
        try? FileManager.default.removeItem(atPath: endpointFile)
        process = Process()
        process.executableURL = executable
        // HTTP on an ephemeral port (benchmarks run beside other brokers and each other).
        let http = arguments.contains("--http-endpoint") ? [] : ["--http-endpoint", "127.0.0.1:0"]
        process.arguments = ["--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", endpointFile] + http + arguments
        if let standardError { process.standardError = standardError }
        do {
            try process.run()
        } catch {
            throw BenchError(.ferrydFailed, "could not start \(executable.path): \(error)")
        }
        let deadline = MonotonicInstant.now() + Duration.seconds(20)
        while !FileManager.default.fileExists(atPath: endpointFile) {
            guard process.isRunning, MonotonicInstant.now() < deadline else {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                throw BenchError(.ferrydFailed, "\(executable.path) did not start listening within 20 s")
            }
            MonotonicInstant.sleep(for: Self.pollInterval)
        }
        endpoint = (try? String(contentsOfFile: endpointFile, encoding: .utf8)) ?? ""
    }

    /// Stops it (SIGTERM, then SIGKILL after 10 s) and returns its exit status (nil if it had
    /// to be killed).
    @discardableResult
    func stop() -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        let deadline = MonotonicInstant.now() + Duration.seconds(10)
        while process.isRunning && MonotonicInstant.now() < deadline { MonotonicInstant.sleep(for: Self.pollInterval) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { stop() }

    /// Peak resident memory, in MiB.
    var peakResidentMegabytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) / 1024
    }

    /// CPU seconds (user + system) used so far.
    var cpuSeconds: Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// `explicit` (`--ferryd`), else `ferryd` next to this executable, else on the PATH.
    static func executable(_ explicit: String?) throws -> URL {
        if let explicit { return URL(fileURLWithPath: explicit) }
        let manager = FileManager.default
        let own = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let beside = own.deletingLastPathComponent().appendingPathComponent("ferryd")
        if manager.isExecutableFile(atPath: beside.path) { return beside }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("ferryd")
            if manager.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw BenchError(.ferrydFailed, "no ferryd next to \(own.path) nor on the PATH; pass --ferryd PATH or --broker ENDPOINT")
    }
}
