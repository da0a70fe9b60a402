public import Ferry
public import Logging

/// Runs one ``Worker`` named after its executable, with the handler groups `configure` adds,
/// until SIGTERM or SIGINT drains it: the whole `run` subcommand of a worker process.
public enum WorkerHost {
    public static func run(name: String, options: ProcessOptions, logger: Logger, _ configure: (Worker) -> Void) async throws {
        let worker = Worker(name: name, configuration: try options.clientConfiguration(name: name), logger: logger)
        configure(worker)
        try await WorkerProcess.run([worker], options: options, logger: logger)
    }
}
