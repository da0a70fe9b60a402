import FerryProtocol
import Synchronization

/// Where a tail (``EventBus/tail(_:from:group:maxInFlight:)``) starts.
public enum TailStart: Sendable {
    /// Only events stored after the tail subscribed.
    case latest
    /// Every event the matching topics still hold, then what follows.
    case earliest
}

/// One event seen by a tail, with where it sits in its topic.
public struct TailedEvent: Sendable {
    public let event: ReceivedEvent
    /// The event's offset in its topic.
    public let offset: UInt64
    /// 1 unless the event is delivered again (e.g. the tail was slower than the ack timeout).
    public let attempt: UInt32
}

/// A live view of the events of some topics, through an ephemeral consumer group: the broker
/// keeps the group in memory only and removes it when the tail closes (or its process dies), so
/// tailing leaves no state behind.
///
/// ```swift
/// let tail = try await bus.tail(["orders.>"])
/// for await item in tail { print(item.event.topic, item.offset) }
/// ```
/// Each event is acked when the iterator hands it out; credit bounds what is buffered. The
/// sequence ends after ``close()``, or when the connection's session ended for good (a broker
/// restart with ``ClientConfiguration/autoResume`` off: see ``endError``). Close the tail before
/// its bus.
public final class EventTail: AsyncSequence, Sendable {
    public typealias Element = TailedEvent

    /// The ephemeral group's name (the broker chose it unless the caller did).
    public let group: String
    private let connection: Connection
    private let subscriptionID: UInt32
    private let stream: AsyncStream<Delivery>
    private let continuation: AsyncStream<Delivery>.Continuation
    private let closed = Atomic<Bool>(false)
    /// Why the broker ended the subscription (a revoked grant), if it did.
    private let ending: Ending

    /// Written by the I/O thread when the broker ends the subscription.
    final class Ending: Sendable {
        let error = Mutex<FerryError?>(nil)
    }

    init(
        group: String, connection: Connection, subscriptionID: UInt32, stream: AsyncStream<Delivery>,
        continuation: AsyncStream<Delivery>.Continuation, ending: Ending
    ) {
        self.ending = ending
        self.group = group
        self.connection = connection
        self.subscriptionID = subscriptionID
        self.stream = stream
        self.continuation = continuation
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<Delivery>.Iterator
        let connection: Connection

        public mutating func next() async -> TailedEvent? {
            guard let delivery = await base.next() else { return nil }
            connection.settle(acks: [delivery.deliveryID])
            return TailedEvent(event: ReceivedEvent(wire: delivery.event, upcasters: connection.configuration.upcasters), offset: delivery.offset, attempt: delivery.attempt)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), connection: connection)
    }

    /// Why the sequence ended by itself: the broker ended the subscription (its grant was
    /// revoked), or the session with the broker ended for good; nil otherwise.
    public var endError: FerryError? { ending.error.withLock { $0 } ?? connection.endError }

    /// Ends the subscription (the broker then removes the ephemeral group) and the sequence.
    /// Waits for the broker's answer at most the bus's request timeout.
    public func close() async {
        continuation.finish()
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var unsubscribe = Unsubscribe()
        unsubscribe.subscriptionID = subscriptionID
        _ = try? await connection.request(.unsubscribe(unsubscribe))
    }
}

extension EventBus {
    /// Follows the events of the topics matching `patterns` (exact, `*` for one token, `>` for
    /// the rest) through an ephemeral group that the broker removes when the tail closes.
    ///
    /// - Parameters:
    ///   - from: ``TailStart/latest`` (live events only) or ``TailStart/earliest`` (what the
    ///     topics still hold first).
    ///   - group: the ephemeral group's name; nil lets the broker choose one. Tails naming the same
    ///     group share its events, like members of any group.
    ///   - maxInFlight: the credit: most events delivered but not yet taken from the sequence.
    /// - Throws: ``FerryError`` with code ``FerryError/Code/timeout`` when the broker does not
    ///   answer, or the broker's code (`INVALID_ARGUMENT` for a bad pattern, or a group name that
    ///   a durable group has).
    public func tail(_ patterns: [String], from start: TailStart = .latest, group: String? = nil, maxInFlight: Int = 256)
        async throws(FerryError) -> EventTail
    {
        var subscribe = Subscribe()
        subscribe.group = group ?? ""
        subscribe.ephemeral = true
        subscribe.patterns = patterns
        subscribe.start = start == .latest ? .startLatest : .startEarliest
        subscribe.maxInFlight = UInt32(clamping: maxInFlight)
        subscribe.memberName = connection.configuration.clientName
        let (stream, continuation) = AsyncStream<Delivery>.makeStream()
        let connection = self.connection
        let ending = EventTail.Ending()
        let onEnd: Connection.EndHandler = { error in
            ending.error.withLock { $0 = $0 ?? error }
            continuation.finish()
        }
        let subscribed = try await connection.subscribe(subscribe, onEnd: onEnd) { deliveries in
            for delivery in deliveries {
                // Nobody reads any more: hand it back without spending an attempt.
                if case .terminated = continuation.yield(delivery) { connection.settle(nacks: [Session.release(delivery.deliveryID)]) }
            }
        }
        return EventTail(
            group: subscribed.group, connection: connection, subscriptionID: subscribed.subscriptionID, stream: stream,
            continuation: continuation, ending: ending)
    }
}
