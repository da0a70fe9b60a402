import Ferry
import Logging
import ServiceLifecycle

/// Runs a process's long-running parts under one `ServiceGroup` that shuts down gracefully on
/// SIGTERM and SIGINT: workers drain, servers stop accepting, then the process exits 0.
public enum WorkerProcess {
    public static func run(_ services: [any Service], logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
