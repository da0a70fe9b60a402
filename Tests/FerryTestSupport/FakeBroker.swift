import FerryProtocol
import Foundation
import Synchronization
import ZeroMQ

/// A stand-in for ferryd on a ROUTER socket, for tests that need the broker to say what a real
/// one says only in a race (a restart in the middle of a request). It answers nothing by itself:
/// the test reads what the client sent and queues each reply. The socket lives on the fake's own
/// thread, so its API may be used from any task.
public final class FakeBroker: Sendable {
    /// A command the client sent, reduced to what tests look at.
    public enum Command: Sendable, Equatable {
        case hello
        case subscribe(group: String)
        case unsubscribe(subscriptionID: UInt32)
        case publish([PublishedEvent])
        case settle(acks: [UInt64], nacks: [UInt64])
        case heartbeat
        case goodbye
        case other
    }

    public struct PublishedEvent: Sendable, Equatable {
        public let sequence: UInt64
        public let eventID: String
    }

    public struct Received: Sendable, Equatable {
        public let requestID: UInt64
        public let command: Command
    }

    private final class Shared: Sendable {
        struct State {
            var endpoint: Result<String, ZMQError>?
            var received: [Received] = []
            var outbox: [ServerMessage] = []
            var stopping = false
        }
        let state = Mutex(State())
        let started = DispatchSemaphore(value: 0)
        let stopped = DispatchSemaphore(value: 0)
    }

    public let endpoint: String
    private let shared = Shared()

    /// Binds to an ephemeral loopback port.
    public init() throws {
        let shared = shared
        let thread = Thread { FakeBroker.run(shared) }
        thread.name = "fake-broker"
        thread.start()
        shared.started.wait()
        endpoint = try shared.state.withLock { $0.endpoint! }.get()
    }

    deinit {
        shared.state.withLock { $0.stopping = true }
        shared.stopped.wait()
    }

    /// Everything the client sent so far, heartbeats included, in order.
    public var received: [Received] { shared.state.withLock { $0.received } }

    /// The first command after position `cursor` of ``received`` that `matches`, waiting up to
    /// `timeout`; moves `cursor` past it. Nil if none came in time.
    public func next(after cursor: inout Int, timeout: Duration = .seconds(10), _ matches: @escaping @Sendable (Command) -> Bool) async
        -> Received?
    {
        let start = cursor
        _ = await Wait.until(timeout: timeout) { self.firstMatch(from: start, matches) != nil }
        guard let (index, message) = firstMatch(from: start, matches) else { return nil }
        cursor = index + 1
        return message
    }

    private func firstMatch(from start: Int, _ matches: (Command) -> Bool) -> (Int, Received)? {
        let all = received
        guard start < all.count, let index = all[start...].firstIndex(where: { matches($0.command) }) else { return nil }
        return (index, all[index])
    }

    // MARK: - Replies (sent to the client that spoke last)

    public func welcome(_ requestID: UInt64, brokerID: String) {
        var welcome = Welcome()
        welcome.protocolVersion = 1
        welcome.heartbeatIntervalMs = 1000
        welcome.peerTimeoutMs = 5000
        welcome.maxPayloadBytes = 1 << 20
        welcome.maxBatch = 4096
        welcome.brokerID = brokerID
        send(requestID, .welcome(welcome))
    }

    /// A heartbeat of broker run `brokerID`; `noSession` says it holds no session for the client.
    public func heartbeat(brokerID: String, noSession: Bool = false) {
        var heartbeat = Heartbeat()
        heartbeat.brokerID = brokerID
        heartbeat.noSession = noSession
        send(0, .heartbeat(heartbeat))
    }

    public func subscribed(_ requestID: UInt64, subscriptionID: UInt32, group: String, maxInFlight: UInt32 = 10) {
        var subscribed = Subscribed()
        subscribed.subscriptionID = subscriptionID
        subscribed.group = group
        subscribed.maxInFlight = maxInFlight
        send(requestID, .subscribed(subscribed))
    }

    public func confirm(_ requestID: UInt64, sequences: [UInt64], offsets: [UInt64]) {
        var result = PublishResult()
        result.confirmed = sequences
        result.offsets = offsets
        send(requestID, .publishResult(result))
    }

    /// One delivery of an event with an empty JSON object as payload.
    public func deliver(subscriptionID: UInt32, deliveryID: UInt64, topic: String, eventID: String, offset: UInt64 = 0, attempt: UInt32 = 1)
    {
        var event = WireEvent()
        event.topic = topic
        event.id = eventID
        event.contentType = "application/json"
        event.payload = Data("{}".utf8)
        var delivery = Delivery()
        delivery.subscriptionID = subscriptionID
        delivery.deliveryID = deliveryID
        delivery.attempt = attempt
        delivery.offset = offset
        delivery.event = event
        var deliver = Deliver()
        deliver.deliveries = [delivery]
        send(0, .deliver(deliver))
    }

    private func send(_ requestID: UInt64, _ reply: ServerMessage.OneOf_Reply) {
        var message = ServerMessage()
        message.requestID = requestID
        message.reply = reply
        shared.state.withLock { $0.outbox.append(message) }
    }

    // MARK: - The socket's thread

    private static func run(_ shared: Shared) {
        defer { shared.stopped.signal() }
        let socket: Socket
        do {
            socket = try Socket(context: try Context(), type: .router)
            try socket.bind("tcp://127.0.0.1:0")
            let endpoint = try socket.lastEndpoint
            shared.state.withLock { $0.endpoint = .success(endpoint) }
            shared.started.signal()
        } catch {
            shared.state.withLock { $0.endpoint = .failure(error) }
            shared.started.signal()
            return
        }
        var poller = Poller()
        let index = poller.addReadable(socket)
        var peer: [UInt8]?
        while !shared.state.withLock({ $0.stopping }) {
            do {
                _ = try poller.poll(timeoutMilliseconds: 2)
                if poller.isReadable(index) {
                    while let frames = try socket.receiveMultipart(dontWait: true) {
                        guard frames.count == 3 else { continue }
                        peer = frames[0].bytes
                        guard
                            let message = try? frames[2].withUnsafeBytes({ (body) throws(ProtocolError) in
                                try WireFormat.decode(ClientMessage.self, from: body)
                            })
                        else { continue }
                        let received = Received(requestID: message.requestID, command: Self.command(message))
                        shared.state.withLock { $0.received.append(received) }
                    }
                }
                guard let peer else { continue }
                let outbox = shared.state.withLock { state in
                    defer { state.outbox.removeAll() }
                    return state.outbox
                }
                for message in outbox { try socket.send(multipart: [peer, WireFormat.signature, WireFormat.encode(message)]) }
            } catch {
                return
            }
        }
    }

    private static func command(_ message: ClientMessage) -> Command {
        switch message.command {
        case .hello: .hello
        case .subscribe(let subscribe): .subscribe(group: subscribe.group)
        case .unsubscribe(let unsubscribe): .unsubscribe(subscriptionID: unsubscribe.subscriptionID)
        case .publish(let publish): .publish(publish.items.map { PublishedEvent(sequence: $0.sequence, eventID: $0.event.id) })
        case .settle(let settle): .settle(acks: settle.acks, nacks: settle.nacks.map(\.deliveryID))
        case .heartbeat: .heartbeat
        case .goodbye: .goodbye
        default: .other
        }
    }
}
