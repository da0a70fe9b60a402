public import Ferry
public import FerryLifecycle
public import Logging
public import ServiceLifecycle
public import UnixSignals

/// Runs a process's long-running parts under one `ServiceGroup` that shuts down gracefully on
/// SIGTERM and SIGINT: workers drain, servers stop accepting, then the process exits 0. With
/// `--exit-with-parent`, the parent's exit shuts it down the same way.
public enum WorkerProcess {
    public static func run(_ services: [any Service], options: ProcessOptions, logger: Logger) async throws {
        var configurations = services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        if options.exitWithParent {
            configurations.append(.init(service: ParentWatch(), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(
            configuration: .init(services: configurations, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
