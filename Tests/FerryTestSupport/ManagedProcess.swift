public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started by a test, killed when the test lets go of it.
public final class ManagedProcess: @unchecked Sendable {
    // @unchecked: `Process` is not Sendable; every access goes through `lock`.
    private let process = Process()
    private let lock = NSLock()
    private let output = Pipe()
    private var collected = Data()
    public let name: String

    /// Starts `product`, found by ``BuildProducts``.
    public convenience init(
        product: String, arguments: [String], captureOutput: Bool = false, captureErrors: Bool = false,
        environment: [String: String] = [:]
    ) throws {
        try self.init(
            executable: BuildProducts.url(of: product), arguments: arguments, captureOutput: captureOutput, captureErrors: captureErrors,
            environment: environment)
    }

    /// Starts the program at `executable`. With `captureErrors`, its standard error joins the
    /// captured output (``outputLines``); `environment` is added to this process's.
    public init(
        executable: URL, arguments: [String], captureOutput: Bool = false, captureErrors: Bool = false,
        environment: [String: String] = [:]
    ) throws {
        name = executable.lastPathComponent
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if captureOutput || captureErrors {
            process.standardOutput = output
            output.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self, !data.isEmpty else { return }
                self.lock.withLock { self.collected.append(data) }
            }
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        process.standardError = captureErrors ? output : FileHandle.standardError
        if captureErrors && !captureOutput { process.standardOutput = FileHandle.nullDevice }
        try process.run()
    }

    deinit {
        // SIGKILL and no wait: a test drops its processes on the cooperative pool, where a
        // blocking waitUntilExit can starve the very queue that would report the exit (both pool
        // threads of a 2-core machine once waited so, forever). Foundation reaps the child.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        output.fileHandleForReading.readabilityHandler = nil
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// CPU time (user and system) the process used so far, in seconds, from `/proc`.
    public var cpuSeconds: Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Everything the process wrote to stdout so far, split into lines.
    public var outputLines: [String] {
        lock.withLock { String(decoding: collected, as: UTF8.self) }.split(separator: "\n").map(String.init)
    }

    /// Sends `signal` (SIGTERM, SIGKILL, …).
    public func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits up to `timeout` for the process to exit; returns its status, or nil if still running.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let exited = await Wait.until(timeout: timeout) { !self.process.isRunning }
        return exited ? process.terminationStatus : nil
    }

    /// Resident memory in bytes, from /proc.
    public var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kilobytes * 1024
    }
}

/// Where the executables a test starts are. A test finds the products of its own package beside
/// its test bundle; a test of another package (Examples/OrderSystem) finds the root package's
/// (ferryd, ferry, ferry-interop) in `FERRY_BIN_DIR` or in the root's `.build/debug`.
public enum BuildProducts {
    /// The first executable of: `<product>` beside the running test bundle (or a few directories
    /// up); `$FERRY_BIN_DIR/<product>`; `<root package>/.build/debug/<product>`. Throws, naming
    /// every place looked at, when there is none.
    public static func url(of product: String) throws -> URL {
        let manager = FileManager.default
        var candidates: [URL] = []
        // Tests run from .build/<triple>/debug/<Package>PackageTests.xctest; products sit beside it.
        var directory = Bundle.main.bundleURL
        for _ in 0..<4 {
            candidates.append(directory.appendingPathComponent(product))
            directory = directory.deletingLastPathComponent()
        }
        if let directory = ProcessInfo.processInfo.environment["FERRY_BIN_DIR"], !directory.isEmpty {
            candidates.append(URL(fileURLWithPath: directory).appendingPathComponent(product))
        }
        candidates.append(rootPackage.appendingPathComponent(".build/debug/\(product)"))
        if let found = candidates.first(where: { manager.isExecutableFile(atPath: $0.path) }) { return found }
        throw HarnessError(
            message: """
                no executable '\(product)' in \(candidates.map(\.path).joined(separator: ", ")); build it first \
                (`swift build` in \(rootPackage.path) for ferryd, ferry and ferry-interop, or in the package \
                that declares it) or set FERRY_BIN_DIR to the directory that holds it
                """)
    }

    /// The root package's directory (this file is <root>/Tests/FerryTestSupport/ManagedProcess.swift).
    public static let rootPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}

/// Waiting on conditions with a deadline, never a fixed sleep.
public enum Wait {
    /// Polls `condition` every few milliseconds until it holds or `timeout` passes.
    public static func until(timeout: Duration, _ condition: @Sendable () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return try await condition()
    }

    /// The synchronous form, for tests that own thread-confined sockets.
    public static func untilSync(timeout: Duration, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            usleep(5_000)
        }
        return try condition()
    }
}
