public import Ferry
import Foundation
public import Logging
import Synchronization

/// The gateway's connections to its own broker: one ``EventBus`` per principal, made on first
/// use, so that everything an HTTP request does passes through the broker's protocol and its
/// authorization exactly as a ZeroMQ client's command would.
///
/// With security on, each principal's connection authenticates with a key pair that ferryd
/// made for it and added to that principal in its credentials (in memory only): the broker
/// sees the HTTP user's principal, never a gateway super-user.
public final class BrokerClients: Sendable {
    /// Where and how to connect as a principal: the endpoint, and the CURVE keys (nil without
    /// security).
    public struct Target: Sendable {
        public let endpoint: String
        public let security: ClientSecurity?

        public init(endpoint: String, security: ClientSecurity?) {
            self.endpoint = endpoint
            self.security = security
        }
    }

    public typealias Resolve = @Sendable (_ principal: String) async throws(FerryError) -> Target

    private let resolve: Resolve
    private let logger: Logger
    private let buses = Mutex<[String: EventBus]>([:])

    /// - Parameter resolve: the endpoint and keys to connect as a principal (waits until the
    ///   broker listens).
    public init(logger: Logger, resolve: @escaping Resolve) {
        self.logger = logger
        self.resolve = resolve
    }

    /// The connection acting as `principal`.
    public func bus(for principal: String) async throws(FerryError) -> EventBus {
        if let bus = buses.withLock({ $0[principal] }) { return bus }
        let target = try await resolve(principal)
        var configuration = ClientConfiguration(endpoint: target.endpoint, clientName: "ferryd-http/\(principal)")
        configuration.security = target.security
        // Every HTTP call waits for its answer; a broker that does not answer is reported, not
        // waited on for ever.
        configuration.requestTimeout = .seconds(15)
        let made = try EventBus(configuration: configuration, logger: logger)
        let (bus, extra) = buses.withLock { buses -> (EventBus, EventBus?) in
            if let existing = buses[principal] { return (existing, made) }
            buses[principal] = made
            return (made, nil)
        }
        if let extra { await extra.close() }
        return bus
    }

    /// Closes the connection of every principal not in `keep` (their credentials were
    /// removed), or all with nil.
    public func close(except keep: Set<String>? = nil) async {
        let closing = buses.withLock { buses -> [EventBus] in
            let names = buses.keys.filter { keep?.contains($0) != true }
            defer { for name in names { buses[name] = nil } }
            return names.compactMap { buses[$0] }
        }
        for bus in closing { await bus.close() }
    }
}
