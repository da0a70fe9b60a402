public import Foundation

#if canImport(Glibc)
    public import Glibc
#endif

/// The processes a launcher started, stopped together (SIGTERM, then a wait) when it is done.
public final class ChildProcesses: @unchecked Sendable {
    private let lock = NSLock()
    private var children: [(name: String, process: Process)] = []
    /// Where the executables live (next to the launcher's own).
    public let directory: URL

    public init(directory: URL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()) {
        self.directory = directory
    }

    /// Starts `executable` (a product built next to this one, or a path) with `arguments`.
    @discardableResult
    public func launch(_ executable: String, _ arguments: [String], name: String? = nil, environment: [String: String] = [:]) throws
        -> Process
    {
        let process = Process()
        process.executableURL =
            executable.contains("/") ? URL(fileURLWithPath: executable) : directory.appendingPathComponent(executable)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        try process.run()
        lock.withLock { children.append((name ?? URL(fileURLWithPath: executable).lastPathComponent, process)) }
        return process
    }

    /// SIGTERMs the children and waits for them to exit: all but the first together, then the
    /// first (the broker, which the others need while they drain).
    public func stopAll() {
        let all = lock.withLock {
            defer { children.removeAll() }
            return children
        }
        for batch in [Array(all.dropFirst()), Array(all.prefix(1))] {
            for child in batch where child.process.isRunning { kill(child.process.processIdentifier, SIGTERM) }
            for child in batch { child.process.waitUntilExit() }
        }
    }

    /// `name` next to the launcher, else the first on the PATH; nil when there is none.
    public func locate(_ name: String) -> String? {
        let candidates =
            [directory] + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { URL(fileURLWithPath: String($0)) }
        return candidates.map { $0.appendingPathComponent(name).path }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The names of children that exited.
    public var exited: [String] { lock.withLock { children.filter { !$0.process.isRunning }.map(\.name) } }
}
