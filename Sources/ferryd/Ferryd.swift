public import ArgumentParser
import FerryBroker
import FerryHTTP
import FerryLifecycle
import FerryStorage
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// ferryd: the Ferry event broker daemon.
@main
struct Ferryd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferryd",
        abstract: "The Ferry event broker: publish, consumer groups, acks, retries and dead-letter queues over ZeroMQ.",
        discussion: "Flags override the configuration file. SIGTERM or SIGINT shut down gracefully.")

    @Option(name: .long, help: "YAML or JSON configuration file.")
    var config: String?

    @Option(name: .long, help: "ZeroMQ endpoint to bind (default tcp://127.0.0.1:7400; port 0 picks a free one).")
    var endpoint: String?

    @Option(name: .long, help: "Write the bound endpoint to this file once listening.")
    var endpointFile: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(name: .long, help: "Heartbeat interval in milliseconds.")
    var heartbeatMs: UInt32?

    @Option(name: .long, help: "A peer silent this long (ms) is dead and its deliveries go elsewhere.")
    var peerTimeoutMs: UInt32?

    @Option(name: .long, help: "Largest accepted payload in bytes.")
    var maxPayloadBytes: Int?

    @Option(name: .long, help: "Most topics ferryd creates (default 10000); a publish to a new topic past it is refused.")
    var maxTopics: Int?

    @Option(name: .long, help: "Most consumer groups ferryd holds (default 1000); a subscribe creating one past it is refused.")
    var maxGroups: Int?

    @Option(name: .long, help: "Where events and group state live (default ./ferry-data).")
    var dataDir: String?

    @Option(name: .long, help: "log (durable, the default) or memory (tests and benchmarks; lost on restart).")
    var storage: String?

    @Option(name: .long, help: "When a publish is durable: always or batch (the default) confirm after an fsync (group commit; batch can be spaced, batch_window_us); never after the write.")
    var fsync: FsyncPolicy?

    @Option(name: .long, help: "Segment size in bytes before the log rolls to a new file.")
    var segmentBytes: Int?

    @Option(
        name: .long,
        help:
            "Longest time (ms, 1-60000, default 200) an ack's cursor move waits for an fdatasync; a power cut redelivers at most what was acked in it."
    )
    var groupStateSyncMs: Int?

    @Option(name: .long, help: "Byte budget of the in-memory store (--storage memory).")
    var maxStoredBytes: Int?

    @Option(name: .long, help: "Default ack timeout (ms) for groups without their own policy.")
    var ackTimeoutMs: UInt32?

    @Option(name: .long, help: "How long shutdown waits (ms) for in-flight deliveries to settle.")
    var shutdownGraceMs: UInt32?

    @Option(
        name: .long,
        help: "Serve CURVE with the server key pair in this certificate file (NAME.key_secret from `ferry keygen`); needs --credentials.")
    var curveSecretKeyFile: String?

    @Option(name: .long, help: "YAML file of principals: their client public keys and grants. Reloaded on SIGHUP and when it changes.")
    var credentials: String?

    @Flag(name: .long, help: "Allow a non-loopback endpoint without CURVE (anyone who can connect may do anything).")
    var insecure = false

    @Option(
        name: .long,
        help:
            "Serve HTTP at HOST:PORT (default 127.0.0.1:7480; port 0 picks one; 'off' for none): /metrics, /healthz, /readyz, the API (/api/v1) and the console (/console). Off loopback it needs --credentials.")
    var httpEndpoint: String?

    @Option(name: .long, help: "Write the HTTP listener's HOST:PORT to this file once listening.")
    var httpEndpointFile: String?

    @Option(
        name: .long,
        help:
            "Which events' lives the trace log records: all (the default), failures (events that failed at least once), a fraction such as 0.1, or off.")
    var trace: String?

    @Flag(name: .long, help: "Shut down gracefully when the process that started ferryd exits (tools and test harnesses).")
    var exitWithParent = false

    func run() async throws {
        // Made first: the parent it watches is the one ferryd started with, not whichever
        // process adopted it should the launcher die during the set-up below.
        let parentWatch = exitWithParent ? ParentWatch() : nil
        // A hangup asks for a reload of the credentials (when there are any), never for an exit:
        // ignored from the start, so that one that comes early does not kill the broker.
        signal(SIGHUP, SIG_IGN)
        Self.tuneAllocator()
        let file = try config.map(FileConfiguration.load(path:))
        var configuration = try brokerConfiguration(file: file)
        let logger = try bootstrapLogging(file: file)
        let security = securitySettings(file: file)
        let gatewayKeys = GatewayKeys()
        let logins = HTTPLogins()
        let serverPublicKey = try applySecurity(security, to: &configuration, gatewayKeys: gatewayKeys, logins: logins, logger: logger)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(Self.metricsFactory(registry: registry))
        Self.raiseDescriptorLimit(for: configuration, logger: logger)

        let storageConfiguration = configuration.storage
        let traceConfiguration = configuration.traceLog
        let scheduleLimits = configuration.scheduleLimits
        let server = BrokerServer(
            configuration: configuration, logger: logger,
            openStorage: {
                try Self.openStorage(storageConfiguration, trace: traceConfiguration, scheduleLimits: scheduleLimits)
            },
            metricsText: { registry.emitToString() })
        let endpointFile = endpointFile
        let brokerEndpoint = BrokerEndpoint()
        let service = BrokerService(server: server) { endpoint in
            brokerEndpoint.set(endpoint)
            if let endpointFile {
                try endpoint.write(toFile: endpointFile, atomically: true, encoding: .utf8)
            }
        }
        var services = [ServiceGroupConfiguration.ServiceConfiguration(service: service)]
        let current = CurrentCredentials(configuration.credentials)
        let gateway = makeGateway(
            endpoint: brokerEndpoint, serverPublicKey: serverPublicKey, gatewayKeys: gatewayKeys, logins: logins, credentials: current, logger: logger)
        if let address = try httpAddress(file: file, protected: serverPublicKey != nil) {
            services.append(
                .init(
                    service: HTTPListener.service(
                        address: address, registry: registry, health: server.health, gateway: gateway, addressFile: httpEndpointFile,
                        logger: logger)))
            services.append(.init(service: gateway.housekeeping))
        }
        if configuration.curveSecretKey != nil, let path = security.credentialsFile {
            services.append(
                .init(
                    service: CredentialsWatcher(
                        path: path, server: server, gatewayKeys: gatewayKeys, logins: logins, current: current, logger: logger
                    ) { principals in
                        gateway.sessions.endAll(except: principals)
                        await gateway.members.expire(keeping: principals)
                        await gateway.clients.close(except: principals)
                    }))
        }
        if let parentWatch {
            // The watch ending (its parent gone) shuts the broker down like a SIGTERM.
            services.append(.init(service: parentWatch, successTerminationBehavior: .gracefullyShutdownGroup))
        }
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
    }

    /// The composition root of ferryd's storage: the event log, the group-state store and the
    /// trace log, all in the data directory (or the first two in memory, without a trace).
    static func openStorage(_ storage: StorageConfiguration, trace: TraceLogConfiguration?, scheduleLimits: ScheduleLimits) throws
        -> BrokerStorage
    {
        switch storage {
        case .memory(let maxBytes):
            return .inMemory(
                maxBytes: maxBytes,
                scheduler: try Scheduler(database: ScheduleDatabase(path: nil), limits: scheduleLimits, clock: Self.wallClockMicros))
        case .log(let configuration):
            let log = try DurableEventLog(configuration: configuration)
            do {
                let groupState = try DurableGroupStateStore(configuration: configuration)
                do {
                    let scheduler = try Scheduler(
                        database: ScheduleDatabase(path: URL(fileURLWithPath: configuration.directory).appendingPathComponent("schedule.sqlite").path),
                        limits: scheduleLimits, clock: Self.wallClockMicros)
                    do {
                        return BrokerStorage(
                            log: log, groupState: groupState,
                            trace: try trace.map { try TraceLog(configuration: $0, readEnvelope: Broker.traceEnvelopeLayout) },
                            scheduler: scheduler)
                    } catch {
                        scheduler.close()
                        throw error
                    }
                } catch {
                    groupState.close()
                    throw error
                }
            } catch {
                log.close()
                throw error
            }
        }
    }
}

extension Ferryd {
    /// The wall clock in microseconds since 1970, for the scheduler.
    @Sendable static func wallClockMicros() -> Int64 { BrokerTime.now().wallMicroseconds }
}

extension FsyncPolicy: ExpressibleByArgument {}
