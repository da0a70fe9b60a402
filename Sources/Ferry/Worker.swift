import FerryProtocol
public import Logging
public import ServiceLifecycle
import Synchronization

/// A process's handler groups, connected to ferryd: the consuming side of Ferry.
///
/// ```swift
/// let worker = Worker(name: "email-worker", configuration: .init(endpoint: endpoint))
/// worker.group("email") { group in
///     group.on(OrderConfirmed.self) { event, context in … }
/// }
/// try await ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
/// On graceful shutdown the worker stops taking new deliveries, lets running handlers finish
/// within each group's deadline, and hands the rest back to the broker for other members.
/// A broker restart is resumed by default; with ``ClientConfiguration/autoResume`` off, `run()`
/// drains the same way and then throws ``FerryError/Code/brokerRestarted``.
public final class Worker: Service, Sendable {
    public let name: String
    public let configuration: ClientConfiguration
    private let logger: Logger
    private let groups = Mutex<[HandlerGroup]>([])
    private let stopSignal = StopSignal()
    private let busBox = Mutex<EventBus?>(nil)
    /// Why the broker ended one of the groups' subscriptions (a revoked grant), if it did.
    private let subscriptionEnd = Mutex<FerryError?>(nil)
    private let readySignal = StopSignal()

    public init(name: String, configuration: ClientConfiguration = ClientConfiguration(), logger: Logger? = nil) {
        self.name = name
        var configuration = configuration
        if configuration.clientName == ClientConfiguration().clientName { configuration.clientName = name }
        self.configuration = configuration
        self.logger = logger ?? Logger(label: name)
    }

    /// Adds a handler group; `configure` registers its handlers.
    @discardableResult
    public func group(_ name: String, options: HandlerGroupOptions = HandlerGroupOptions(), _ configure: (HandlerGroup) -> Void)
        -> HandlerGroup
    {
        let group = HandlerGroup(name: name, options: options)
        configure(group)
        groups.withLock { $0.append(group) }
        return group
    }

    /// The worker's publishing side, sharing its connection; nil until ``run()`` connected.
    public var bus: EventBus? { busBox.withLock { $0 } }

    /// Returns once every group is subscribed.
    public func waitUntilReady() async { await readySignal.wait() }

    /// Asks ``run()`` to drain and return, as SIGTERM does.
    public func stop() { stopSignal.fire() }

    /// Connects, subscribes every group and handles deliveries until SIGTERM (graceful shutdown),
    /// ``stop()`` or cancellation; then drains and returns.
    ///
    /// Everything the worker runs (each group's lanes, batch consumers and batch timers) is a
    /// child task of this call: when it returns, no handler of this worker is still running.
    /// Handlers still running at a group's ``HandlerGroupOptions/shutdownDeadline`` are cancelled
    /// (their events go back without spending an attempt), and `run()` waits for them to return.
    /// Cancelling the task that runs `run()` cancels the handlers at once the same way.
    public func run() async throws {
        let connection = try await Connection.open(configuration: configuration, logger: logger)
        let bus = EventBus(connection: connection)
        busBox.withLock { $0 = bus }
        // A group whose grant was revoked cannot do its work: the worker stops, and `run()`
        // throws why, for a supervisor to see.
        let runners = groups.withLock { $0 }.map { group in
            GroupRunner(group: group, connection: connection, bus: bus, logger: logger) { [self] error in
                subscriptionEnd.withLock { $0 = $0 ?? error }
                stopSignal.fire()
            }
        }
        let outcome = await withTaskGroup(of: Void.self, returning: Result<Void, FerryError>.self) { tasks in
            for runner in runners { tasks.addTask { await runner.run() } }
            var outcome = Result<Void, FerryError>.success(())
            do throws(FerryError) {
                for runner in runners { try await runner.subscribe() }
                await serve(connection: connection, groups: runners.map(\.group.name))
            } catch {
                outcome = .failure(error)
            }
            for runner in runners {
                let deadline = ContinuousClock.now + runner.group.options.shutdownDeadline
                tasks.addTask { await runner.drain(until: deadline) }
            }
            return outcome
        }
        await connection.close()
        busBox.withLock { $0 = nil }
        try outcome.get()
        if let error = subscriptionEnd.withLock({ $0 }) {
            logger.error("worker stopped: ferryd ended a group's subscription", metadata: ["worker": "\(name)", "error": "\(error)"])
            throw error
        }
        if let error = connection.endError {
            logger.error("worker stopped: its session with ferryd ended", metadata: ["worker": "\(name)", "error": "\(error)"])
            throw error
        }
        logger.info("worker stopped", metadata: ["worker": "\(name)"])
    }

    /// Says the worker is ready and waits for the signal to stop.
    private func serve(connection: Connection, groups: [String]) async {
        // The session ended for good (a broker restart without auto-resume): stop as on SIGTERM.
        connection.ended.whenFired { [stopSignal] in stopSignal.fire() }
        readySignal.fire()
        logger.info("worker ready", metadata: ["worker": "\(name)", "groups": "\(groups.joined(separator: ","))"])
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await stopSignal.wait()
            } onCancel: {
                stopSignal.fire()
            }
        } onGracefulShutdown: {
            self.stopSignal.fire()
        }
        logger.info("worker draining", metadata: ["worker": "\(name)"])
    }
}
