import Foundation

#if canImport(Glibc)
    import Glibc
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

    /// Starts `executable` (a product built next to this one) with `arguments`.
    @discardableResult
    public func launch(_ executable: String, _ arguments: [String], name: String? = nil, environment: [String: String] = [:]) throws
        -> Process
    {
        let process = Process()
        process.executableURL = directory.appendingPathComponent(executable)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        try process.run()
        lock.withLock { children.append((name ?? executable, process)) }
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

    /// The names of children that exited.
    public var exited: [String] { lock.withLock { children.filter { !$0.process.isRunning }.map(\.name) } }
}
