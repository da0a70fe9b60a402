import Logging
public import ServiceLifecycle

/// ferryd's broker as a swift-service-lifecycle `Service`: runs until graceful shutdown
/// (SIGTERM/SIGINT through the `ServiceGroup`), then drains in-flight deliveries and returns.
/// Cancelled (another service of the group failed, e.g. the HTTP listener could not bind), it
/// shuts down the same way, so that the process ends rather than serving half.
public struct BrokerService: Service {
    public let server: BrokerServer
    private let onListening: @Sendable (String) throws -> Void

    /// - Parameter onListening: called with the bound endpoint once the broker accepts connections.
    public init(server: BrokerServer, onListening: @escaping @Sendable (String) throws -> Void = { _ in }) {
        self.server = server
        self.onListening = onListening
    }

    public func run() async throws {
        let endpoint = try server.start()
        try onListening(endpoint)
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await server.waitUntilStopped()
            } onGracefulShutdown: {
                server.shutdown()
            }
        } onCancel: {
            server.shutdown()
        }
    }
}
