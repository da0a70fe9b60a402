public import FerryBroker
import FerryProtocol
import FerryRuntime
import FerryStorage
import Foundation
public import Logging
public import MetricsTestKit

/// The real broker core, run in-process on a manual clock and driven by protocol messages:
/// for tests of broker logic (retries, timeouts, dead letters, ordering, credit, restore) that
/// must not depend on how loaded the machine is.
///
/// Nothing here reads a clock. Every message is handled at ``time``, which moves only when the
/// test calls ``advance(by:)``; each step ends with the pass the server would run, so replies
/// and deliveries land in the clients' inboxes as a real ferryd would send them. A durable
/// store's syncs and saves happen on its own threads: those steps wait for them, with a
/// deadline, as the server's loop would.
public final class EmbeddedBroker {
    /// The time the broker sees.
    public private(set) var time: BrokerTime
    public let configuration: BrokerConfiguration
    /// The event log and group-state store: in memory unless a test passes others.
    public private(set) var storage: BrokerStorage
    /// The core being driven; replaced by ``restart(with:)``.
    public private(set) var broker: Broker
    private let logger: Logger
    /// The broker's metrics, in memory: ``counter(_:dimensions:)`` reads them.
    public let metrics = TestMetrics()
    private var inboxes: [[UInt8]: [ServerMessage]] = [:]
    private var unroutable: Set<[UInt8]> = []

    /// A broker over `storage` (in memory by default) at `time`.
    public init(
        configuration: BrokerConfiguration = BrokerConfiguration(), storage: BrokerStorage = .inMemory(),
        at time: BrokerTime = EmbeddedBroker.epoch, logger: Logger = EmbeddedBroker.quietLogger
    ) {
        self.time = time
        self.configuration = configuration
        self.logger = logger
        self.storage = storage
        self.broker = Broker(configuration: configuration, storage: storage, logger: logger, at: time, metricsFactory: metrics)
    }

    /// Ends the broker's helper thread and closes its stores: the end of a test.
    public func close() {
        broker.close()
        storage.close()
    }

    /// A counter's total (e.g. `ferry_ack_timeouts_total`), across restarts; 0 if never made.
    public func counter(_ label: String, dimensions: [(String, String)] = []) -> Int64 {
        (try? metrics.expectCounter(label, dimensions))?.totalValue ?? 0
    }

    /// Logs errors only: a test's expected warnings (dead letters, expired peers) stay quiet.
    public static var quietLogger: Logger {
        var logger = Logger(label: "ferry.embedded")
        logger.logLevel = .error
        return logger
    }

    /// Where a manual clock starts: a monotonic clock at one hour, the wall clock at
    /// 2026-01-01T00:00:00Z.
    public static let epoch = BrokerTime(
        monotonic: MonotonicInstant(nanoseconds: 0) + Nanoseconds.seconds(3600), wallMicroseconds: 1_767_225_600_000_000)

    /// A connection with `name` as its routing id. It has no session until it says Hello or
    /// subscribes, as on the wire.
    public func connect(_ name: String) -> EmbeddedClient {
        EmbeddedClient(broker: self, routingID: Array(name.utf8))
    }

    /// Moves the clock on by `duration`, and runs the pass the server would run on waking.
    public func advance(by duration: Duration) {
        time = time.advanced(by: duration)
        endPass()
    }

    /// Advances in steps of at most `step` until `duration` has passed: for timers that fire
    /// on a housekeeping pass (ack timeouts, peer timeouts, heartbeats).
    public func advance(by duration: Duration, step: Duration) {
        var left = duration
        while left > .zero {
            let next = min(step, left)
            advance(by: next)
            left -= next
        }
    }

    /// How long the broker would sleep now if nothing arrived.
    public var timeUntilWakeup: Duration { broker.timeUntilWakeup }

    /// Messages sent to `client` and not taken yet.
    func inbox(of routingID: [UInt8]) -> [ServerMessage] { inboxes[routingID] ?? [] }

    func take(from routingID: [UInt8], where predicate: (ServerMessage) -> Bool) -> [ServerMessage] {
        let all = inboxes[routingID] ?? []
        inboxes[routingID] = all.filter { !predicate($0) }
        return all.filter(predicate)
    }

    /// Makes the socket unable to route to `routingID` (its process died): the next frame for
    /// it fails as with `EHOSTUNREACH`, and the broker is told.
    func disconnect(_ routingID: [UInt8]) { unroutable.insert(routingID) }

    /// Hands `frame` to the broker as the message from `routingID`, then ends the pass.
    func receive(_ frame: [UInt8], from routingID: [UInt8], frameCount: Int = 2) {
        WireFormat.signature.withUnsafeBytes { signature in
            frame.withUnsafeBytes { body in
                broker.handle(.message(routingID: routingID, frameCount: frameCount, signature: signature, body: body), at: time)
            }
        }
        endPass()
    }

    /// Flushes replies, runs `.passEnded` and flushes again, as one turn of the server's loop;
    /// takes the store's sync and save notifications first.
    func endPass() {
        collectNotifications()
        flush()
        broker.handle(.passEnded, at: time)
        flush()
    }

    private func flush() {
        var failed: [[UInt8]] = []
        broker.sendOutbox { outbound in
            let routingID = outbound.peerRoutingID
            if unroutable.contains(routingID) {
                failed.append(routingID)
                return
            }
            // The broker only sends what it encoded: a frame that does not decode is a bug here.
            let message = try! outbound.frame.withUnsafeBytes { try WireFormat.decode(ServerMessage.self, from: $0) }
            inboxes[routingID, default: []].append(message)
        }
        for routingID in Set(failed) { broker.handle(.peerUnreachable(routingID: routingID), at: time) }
    }

    private func collectNotifications() {
        if let descriptor = storage.log.syncNotificationDescriptor, !readableDescriptors([descriptor], timeout: .zero).isEmpty {
            broker.handle(.eventsSynced, at: time)
        }
        if let descriptor = storage.groupState.notificationDescriptor, !readableDescriptors([descriptor], timeout: .zero).isEmpty {
            broker.handle(.groupStateSynced, at: time)
        }
        if let descriptor = broker.traceAnswerDescriptor, !readableDescriptors([descriptor], timeout: .zero).isEmpty {
            broker.handle(.traceAnswered, at: time)
        }
    }

    /// Runs passes at the current time until `condition` holds or `timeout` of real time has
    /// passed (a durable store syncs and saves on its own threads): whether it held.
    @discardableResult
    public func runUntil(timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            endPass()
            if condition() { return true }
            if ContinuousClock.now >= deadline { return false }
            waitForNotification(timeout: .milliseconds(5))
        }
    }

    /// Shuts the broker down gracefully (the grace period on the manual clock) and closes its
    /// stores; then opens new ones (the same directory reopened, or others) in a new broker, as
    /// a restarted ferryd does. Clients keep their routing ids but have no session.
    public func restart(with openStorage: () throws -> BrokerStorage) rethrows {
        shutDown()
        broker.close()
        storage.close()
        storage = try openStorage()
        broker = Broker(configuration: configuration, storage: storage, logger: logger, at: time, metricsFactory: metrics)
        inboxes.removeAll()
        unroutable.removeAll()
    }

    /// A graceful shutdown: no new work; passes run, the clock moving to each wake-up the broker
    /// asks for (1–100 ms at a time), until in-flight deliveries settled or the grace period ended.
    public func shutDown() {
        broker.handle(.shutdown, at: time)
        while !broker.isFinished {
            endPass()
            if broker.isFinished { break }
            waitForNotification(timeout: .milliseconds(1))
            time = time.advanced(by: max(.milliseconds(1), min(broker.timeUntilWakeup, .milliseconds(100))))
        }
    }

    /// Waits at most `timeout` for a sync or save notification of the stores (none in memory).
    private func waitForNotification(timeout: Duration) {
        let descriptors = [storage.log.syncNotificationDescriptor, storage.groupState.notificationDescriptor, broker.traceAnswerDescriptor]
            .compactMap { $0 }
        _ = readableDescriptors(descriptors, timeout: timeout)
    }
}
