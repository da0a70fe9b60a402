import FerryProtocol
import Synchronization

/// One delivery handed out by a ``GroupConsumer``: settle it by ``deliveryID``.
public struct PulledDelivery: Sendable {
    /// Names this delivery in ``GroupConsumer/ack(_:)`` and ``GroupConsumer/nack(_:delay:deadLetter:error:)``.
    public let deliveryID: UInt64
    /// 1 for the first delivery, 2 for the first retry, …
    public let attempt: UInt32
    /// The event's offset in its topic.
    public let offset: UInt64
    /// The error text of the previous failed attempt ("" on a first attempt).
    public let lastError: String
    public let event: ReceivedEvent
}

/// A member of a durable consumer group that its caller pulls from, for bridges and gateways
/// (ferryd's HTTP API) where a handler callback does not fit: ``fetch(max:wait:)`` takes what
/// the broker delivered, the caller settles each delivery by id.
///
/// The broker's rules apply unchanged: credit (`maxInFlight`) bounds what is delivered and not
/// yet settled, buffered here or handed out; the group's ack timeout and retry policy run from
/// the moment the broker delivered. ``close()`` hands back what was never fetched (no attempt
/// counted) and ends the member; what was fetched and not settled counts as a failed attempt,
/// as for a member that died.
public final class GroupConsumer: Sendable {
    /// The group this member belongs to.
    public let group: String
    /// The credit the broker granted.
    public let maxInFlight: Int
    private let connection: Connection
    private let subscriptionID: UInt32
    private let state: SharedState

    /// What the consumer and the I/O thread's callbacks share.
    final class SharedState: Sendable {
        let mutex = Mutex(State())
    }

    struct State {
        var buffer: [Delivery] = []
        /// Handed out and not yet settled.
        var outstanding: Set<UInt64> = []
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var nextWaiterID: UInt64 = 0
        var ended: FerryError?
        var closed = false
    }

    init(group: String, maxInFlight: Int, connection: Connection, subscriptionID: UInt32, state: SharedState) {
        self.group = group
        self.maxInFlight = maxInFlight
        self.connection = connection
        self.subscriptionID = subscriptionID
        self.state = state
    }

    /// Called on the I/O thread with new deliveries.
    static func receive(_ deliveries: [Delivery], into state: SharedState) -> CheckedContinuation<Void, Never>? {
        state.mutex.withLock { state in
            state.buffer += deliveries
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
    }

    /// Up to `max` deliveries: at once if some are waiting, otherwise as soon as one arrives,
    /// or none once `wait` passed. One fetch at a time.
    /// - Throws: ``FerryError`` `CLOSED` after ``close()``; the broker's code when it ended
    ///   the subscription (a revoked grant) or the session ended for good; `INVALID_ARGUMENT`
    ///   when another fetch is waiting.
    public func fetch(max: Int, wait: Duration) async throws(FerryError) -> [PulledDelivery] {
        if let taken = try take(max) { return taken }
        guard wait > .zero else { return [] }
        let waiterID: UInt64 = try state.mutex.withLock { (state) throws(FerryError) -> UInt64 in
            guard state.waiter == nil else { throw FerryError(.broker(.invalidArgument), "another fetch of this member is waiting") }
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForDeliveries(waiterID) }
            group.addTask { try? await Task.sleep(for: wait) }
            await group.next()
            group.cancelAll()
        }
        return try take(max) ?? []
    }

    /// Takes up to `max` buffered deliveries; nil when none is buffered.
    private func take(_ max: Int) throws(FerryError) -> [PulledDelivery]? {
        let taken: [Delivery] = try state.mutex.withLock { (state) throws(FerryError) -> [Delivery] in
            if state.closed { throw FerryError(.closed, "the consumer is closed") }
            if state.buffer.isEmpty, let ended = state.ended { throw ended }
            let count = Swift.min(Swift.max(max, 1), state.buffer.count)
            let taken = Array(state.buffer.prefix(count))
            state.buffer.removeFirst(count)
            for delivery in taken { state.outstanding.insert(delivery.deliveryID) }
            return taken
        }
        guard !taken.isEmpty else { return nil }
        return taken.map {
            PulledDelivery(
                deliveryID: $0.deliveryID, attempt: $0.attempt, offset: $0.offset, lastError: $0.lastError,
                event: ReceivedEvent(wire: $0.event, upcasters: connection.configuration.upcasters))
        }
    }

    /// Suspends until a delivery arrives, the subscription ends, or the task is cancelled.
    private func waitForDeliveries(_ id: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.mutex.withLock { state in
                    if !state.buffer.isEmpty || state.ended != nil || state.closed || Task.isCancelled { return true }
                    state.waiter = (id, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.mutex.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.waiter, waiter.id == id else { return nil }
                state.waiter = nil
                return waiter.continuation
            }
            waiter?.resume()
        }
    }

    /// Whether `deliveryID` was handed out by this consumer and is not settled yet.
    public func holds(_ deliveryID: UInt64) -> Bool { state.mutex.withLock { $0.outstanding.contains(deliveryID) } }

    /// Deliveries handed out and not settled yet.
    public var outstandingCount: Int { state.mutex.withLock { $0.outstanding.count } }

    /// Acks deliveries this consumer handed out; returns the ids it did not hold (ignored).
    @discardableResult
    public func ack(_ deliveryIDs: [UInt64]) -> [UInt64] {
        let (held, unknown) = settle(deliveryIDs)
        if !held.isEmpty { connection.settle(acks: held) }
        return unknown
    }

    /// Nacks one delivery: retried after `delay` (nil: the group's backoff), or dead-lettered
    /// now with `deadLetter`. Returns false if this consumer does not hold it.
    @discardableResult
    public func nack(_ deliveryID: UInt64, delay: Duration? = nil, deadLetter: Bool = false, error: String = "") -> Bool {
        guard settle([deliveryID]).held.count == 1 else { return false }
        var nack = Nack()
        nack.deliveryID = deliveryID
        if let delay { nack.delayMs = UInt32(clamping: delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000) }
        nack.deadLetter = deadLetter
        nack.error = error
        connection.settle(nacks: [nack])
        return true
    }

    /// Hands deliveries back without counting an attempt (this member will not process them).
    @discardableResult
    public func release(_ deliveryIDs: [UInt64]) -> [UInt64] {
        let (held, unknown) = settle(deliveryIDs)
        if !held.isEmpty { connection.settle(nacks: held.map(Session.release)) }
        return unknown
    }

    private func settle(_ ids: [UInt64]) -> (held: [UInt64], unknown: [UInt64]) {
        state.mutex.withLock { state in
            var held: [UInt64] = []
            var unknown: [UInt64] = []
            for id in ids {
                if state.outstanding.remove(id) != nil { held.append(id) } else { unknown.append(id) }
            }
            return (held, unknown)
        }
    }

    /// Releases what was never fetched and ends the member; deliveries fetched and not
    /// settled count as failed attempts and go to other members.
    public func close() async {
        let (buffered, waiter, wasClosed) = state.mutex.withLock { state in
            defer {
                state.closed = true
                state.buffer = []
                state.outstanding = []
                state.waiter = nil
            }
            return (state.buffer, state.waiter?.continuation, state.closed)
        }
        waiter?.resume()
        guard !wasClosed else { return }
        if !buffered.isEmpty { connection.settle(nacks: buffered.map { Session.release($0.deliveryID) }) }
        var unsubscribe = Unsubscribe()
        unsubscribe.subscriptionID = subscriptionID
        _ = try? await connection.request(.unsubscribe(unsubscribe))
    }
}

extension EventBus {
    /// Joins durable `group` as a member that its caller pulls from (see ``GroupConsumer``),
    /// following the topics that match `patterns` (the group's patterns if it exists).
    /// - Parameters:
    ///   - maxInFlight: the credit: most deliveries buffered or handed out and not settled.
    ///   - startEarliest: a new group starts at the topics' oldest events instead of new ones.
    ///   - memberName: how the broker names the member (in stats and traces); the client's name
    ///     by default.
    /// - Throws: the broker's code: `INVALID_ARGUMENT` (a bad pattern or group name),
    ///   `FORBIDDEN`, `LIMIT_EXCEEDED` (too many groups), …
    public func consumer(
        group: String, patterns: [String], maxInFlight: Int = 16, startEarliest: Bool = false, memberName: String? = nil
    )
        async throws(FerryError) -> GroupConsumer
    {
        var subscribe = Subscribe()
        subscribe.group = group
        subscribe.patterns = patterns
        subscribe.maxInFlight = UInt32(clamping: maxInFlight)
        subscribe.start = startEarliest ? .startEarliest : .startLatest
        subscribe.memberName = memberName ?? connection.configuration.clientName
        let box = GroupConsumer.SharedState()
        let connection = self.connection
        let subscribed = try await connection.subscribe(
            subscribe,
            onEnd: { error in
                let waiter = box.mutex.withLock { state in
                    state.ended = state.ended ?? error
                    defer { state.waiter = nil }
                    return state.waiter?.continuation
                }
                waiter?.resume()
            },
            sink: { deliveries in
                let closed = box.mutex.withLock { $0.closed }
                if closed {
                    connection.settle(nacks: deliveries.map { Session.release($0.deliveryID) })
                    return
                }
                GroupConsumer.receive(deliveries, into: box)?.resume()
            })
        return GroupConsumer(
            group: subscribed.group.isEmpty ? group : subscribed.group, maxInFlight: Int(subscribed.maxInFlight), connection: connection,
            subscriptionID: subscribed.subscriptionID, state: box)
    }
}
