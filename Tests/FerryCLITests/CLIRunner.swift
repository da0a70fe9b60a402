import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a `ferry` run left behind.
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String
    /// Wall-clock time the run took.
    let elapsed: Duration

    var lines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// stdout parsed as JSON.
    func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(stdout.utf8), options: [.fragmentsAllowed])
    }

    /// Each stdout line parsed as JSON (JSON lines).
    func jsonLines() throws -> [[String: Any]] {
        try lines.map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw CLIProcess.Failure(description: "not a JSON object: \(line)")
            }
            return object
        }
    }
}

/// The built `ferry` binary, run as a child process with stdin, stdout and stderr of its own.
final class CLIProcess: @unchecked Sendable {
    // @unchecked: `Process` is not Sendable; it is only read after start, and `isRunning` is thread-safe.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let process = Process()
    private let directory: URL
    private let started = ContinuousClock.now
    let arguments: [String]

    /// Starts `ferry arguments…`; `stdin` is written and closed, or stdin is empty.
    /// `environment` is added to a copy of this process's, without any FERRY_BROKER.
    init(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws {
        self.arguments = arguments
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: directory.appendingPathComponent("out").path, contents: nil)
        FileManager.default.createFile(atPath: directory.appendingPathComponent("err").path, contents: nil)
        process.executableURL = try BuildProducts.url(of: "ferry")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "FERRY_BROKER")
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: directory.appendingPathComponent("out"))
        process.standardError = try FileHandle(forWritingTo: directory.appendingPathComponent("err"))
        let input = Pipe()
        process.standardInput = input
        try process.run()
        // A ferry that exits without reading stdin must not kill the test runner with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        if let stdin { try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    var isRunning: Bool { process.isRunning }

    /// Sends SIGINT, as Ctrl-C does.
    func interrupt() { kill(process.processIdentifier, SIGINT) }

    /// What it wrote to stdout so far.
    var stdout: String {
        (try? String(contentsOf: directory.appendingPathComponent("out"), encoding: .utf8)) ?? ""
    }

    /// Waits for the exit, at most `timeout`; a process still running then is killed and reported.
    func finish(timeout: Duration = .seconds(20)) async throws -> CLIResult {
        let exited = await Wait.until(timeout: timeout) { !self.process.isRunning }
        if !exited {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw Failure(description: "ferry \(arguments.joined(separator: " ")) did not exit within \(timeout); stdout: \(stdout)")
        }
        let stderr = (try? String(contentsOf: directory.appendingPathComponent("err"), encoding: .utf8)) ?? ""
        return CLIResult(status: process.terminationStatus, stdout: stdout, stderr: stderr, elapsed: ContinuousClock.now - started)
    }

    /// Runs `ferry arguments…` to its end.
    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], timeout: Duration = .seconds(20))
        async throws -> CLIResult
    {
        try await CLIProcess(arguments, stdin: stdin, environment: environment).finish(timeout: timeout)
    }
}

/// A ferryd for one test plus `ferry` runs against it.
struct CLIFixture {
    let ferryd: Ferryd

    init(_ arguments: [String] = []) async throws {
        ferryd = try await Ferryd(arguments)
    }

    /// `ferry` runs against a ferryd started elsewhere (a restart).
    init(ferryd: Ferryd) {
        self.ferryd = ferryd
    }

    /// Runs `ferry command --broker <this ferryd> arguments…`.
    func ferry(_ arguments: String..., stdin: String? = nil) async throws -> CLIResult {
        try await CLIProcess.run(arguments + ["--broker", ferryd.endpoint], stdin: stdin)
    }

    /// Starts `ferry` in the background (a live tail).
    func start(_ arguments: String...) throws -> CLIProcess {
        try CLIProcess(arguments + ["--broker", ferryd.endpoint])
    }

    /// `ferry groups --json`, decoded.
    func groups() async throws -> [[String: Any]] {
        let result = try await ferry("groups", "--json")
        guard result.status == 0, let groups = try result.json() as? [[String: Any]] else {
            throw CLIProcess.Failure(description: "ferry groups failed: \(result.status) \(result.stderr)")
        }
        return groups
    }

    func group(_ name: String) async throws -> [String: Any]? {
        try await groups().first { $0["name"] as? String == name }
    }
}

extension Dictionary where Key == String, Value == Any {
    func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue }
}
