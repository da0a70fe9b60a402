public import FerryProtocol
import Foundation

/// One connection to an ``EmbeddedBroker``: sends protocol messages as a client would, and
/// collects what the broker sends it.
///
/// Each command is handled at once, followed by the pass the server runs after a message, so
/// the reply (and any deliveries it led to) is in the inbox when the call returns, unless the
/// broker holds it for a sync of a durable store.
public final class EmbeddedClient {
    let broker: EmbeddedBroker
    /// The routing id the broker knows this connection by.
    public let routingID: [UInt8]
    private var nextRequestID: UInt64 = 0

    init(broker: EmbeddedBroker, routingID: [UInt8]) {
        self.broker = broker
        self.routingID = routingID
    }

    /// Sends `command` with a fresh request id and returns the id.
    @discardableResult
    public func send(_ command: ClientMessage.OneOf_Command) -> UInt64 {
        nextRequestID += 1
        var message = ClientMessage()
        message.requestID = nextRequestID
        message.command = command
        send(frame: WireFormat.encode(message))
        return nextRequestID
    }

    /// Sends raw bytes as the body frame (`frameCount` frames after the routing id).
    public func send(frame: [UInt8], frameCount: Int = 2) {
        broker.receive(frame, from: routingID, frameCount: frameCount)
    }

    /// Sends `command` and returns its reply, waiting (with a deadline) when the broker holds
    /// it for a durable store's sync; nil when none came.
    @discardableResult
    public func request(_ command: ClientMessage.OneOf_Command) -> ServerMessage.OneOf_Reply? {
        let requestID = send(command)
        var reply: ServerMessage?
        broker.runUntil {
            reply = take { $0.requestID == requestID }.first
            return reply != nil
        }
        return reply?.reply
    }

    /// Everything received and not taken yet, oldest first.
    public var inbox: [ServerMessage] { broker.inbox(of: routingID) }

    /// Takes the received messages that match `predicate` out of the inbox.
    @discardableResult
    public func take(where predicate: (ServerMessage) -> Bool) -> [ServerMessage] {
        broker.take(from: routingID, where: predicate)
    }

    /// Takes every delivery received so far, in the order they came.
    public func takeDeliveries() -> [Delivery] {
        take { if case .deliver = $0.reply { true } else { false } }.flatMap { message -> [Delivery] in
            guard case .deliver(let deliver) = message.reply else { return [] }
            return deliver.deliveries
        }
    }

    /// The connection stops existing for the socket, as when its process is killed: the next
    /// frame the broker sends it cannot be routed.
    public func disconnect() { broker.disconnect(routingID) }
}

extension EmbeddedClient {
    /// Says Hello and returns the Welcome.
    @discardableResult
    public func hello(name: String = "embedded-test") -> Welcome? {
        var hello = Hello()
        hello.clientName = name
        guard case .welcome(let welcome)? = request(.hello(hello)) else { return nil }
        return welcome
    }

    /// Subscribes to `group` and returns the reply (Subscribed, or an error).
    @discardableResult
    public func subscribe(
        group: String, patterns: [String], maxInFlight: UInt32 = 0, retry: WireRetryPolicy? = nil,
        start: StartPosition = .startEarliest, ephemeral: Bool = false, memberName: String = ""
    ) -> ServerMessage.OneOf_Reply? {
        var subscribe = Subscribe()
        subscribe.group = group
        subscribe.patterns = patterns
        subscribe.maxInFlight = maxInFlight
        if let retry { subscribe.retry = retry }
        subscribe.start = start
        subscribe.ephemeral = ephemeral
        subscribe.memberName = memberName
        return request(.subscribe(subscribe))
    }

    /// Publishes events to `topic` (each an id, an optional key and a payload) and returns the
    /// reply (PublishResult, or an error).
    @discardableResult
    public func publish(topic: String, _ events: [(id: String, key: String, payload: [UInt8])]) -> ServerMessage.OneOf_Reply? {
        var publish = Publish()
        publish.items = events.enumerated().map { index, event in
            var item = PublishItem()
            item.sequence = UInt64(index + 1)
            item.event.topic = topic
            item.event.id = event.id
            item.event.key = event.key
            item.event.payload = Data(event.payload)
            return item
        }
        return request(.publish(publish))
    }

    /// Publishes one event with `id` (and `key`) to `topic`.
    @discardableResult
    public func publish(topic: String, id: String, key: String = "") -> ServerMessage.OneOf_Reply? {
        publish(topic: topic, [(id, key, Array(id.utf8))])
    }

    /// Acks deliveries.
    public func ack(_ deliveryIDs: [UInt64]) {
        var settle = Settle()
        settle.acks = deliveryIDs
        send(.settle(settle))
    }

    /// Nacks one delivery: with `error` (retried with the group's backoff, or after `delay`),
    /// straight to the dead-letter queue, or released without spending an attempt.
    public func nack(
        _ deliveryID: UInt64, error: String = "failed", delay: Duration? = nil, deadLetter: Bool = false, release: Bool = false
    ) {
        var nack = Nack()
        nack.deliveryID = deliveryID
        nack.error = error
        if let delay { nack.delayMs = UInt32(delay / .milliseconds(1)) }
        nack.deadLetter = deadLetter
        nack.release = release
        var settle = Settle()
        settle.nacks = [nack]
        send(.settle(settle))
    }

    /// The broker's Stats reply.
    public func stats() -> Stats? {
        guard case .stats(let stats)? = request(.stats(StatsRequest())) else { return nil }
        return stats
    }
}
