import FerryProtocol
import Foundation
import Histogram
import ZeroMQ

/// What the publisher thread measured.
struct PublisherResult: Sendable {
    var firstPublish: UInt64 = 0
    var lastConfirm: UInt64 = 0
    var confirmed = 0
    var rejected = 0
    /// For fixed-rate runs: set when the publisher fell more than the allowed lag behind.
    var gaveUpAfter: Int?
}

/// What the consumer thread measured.
struct ConsumerResult: Sendable {
    var latencies = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    var received = 0
    var duplicates = 0
    var malformed = 0
    var finalAckProcessed: UInt64 = 0
    var batches = 0
}

/// The workload's two clients, each on its own thread with its own connection.
struct BenchClients {
    let endpoint: String
    let count: Int
    let window: Int
    let payloadSize: Int
    let topic: String
    /// Events per second for the fixed-rate workload; nil for saturation.
    let rate: Int?
    let maxLagNanoseconds: UInt64

    func send(_ socket: Socket, _ command: ClientMessage.OneOf_Command, requestID: UInt64) throws {
        var message = ClientMessage()
        message.requestID = requestID
        message.command = command
        try socket.send(WireFormat.signature, more: true)
        try socket.send(WireFormat.encode(message))
    }

    func receive(_ socket: Socket) throws -> ServerMessage? {
        guard let frames = try socket.receiveMultipart(dontWait: true), frames.count == 2 else { return nil }
        return try frames[1].withUnsafeBytes { (body) throws(ProtocolError) in try WireFormat.decode(ServerMessage.self, from: body) }
    }

    /// Subscribes, signals `ready`, then receives and batch-acks until `count` events arrived.
    func runConsumer(ready: DispatchSemaphore) throws -> ConsumerResult {
        let socket = try Socket(context: try Context(), type: .dealer)
        try socket.setReceiveHighWaterMark(0)
        try socket.connect(endpoint)
        var subscribe = Subscribe()
        subscribe.group = "bench"
        subscribe.patterns = [topic]
        subscribe.maxInFlight = 1000
        try send(socket, .subscribe(subscribe), requestID: 1)
        var poller = Poller()
        poller.addReadable(socket)
        var subscribed = false
        while !subscribed {
            try poller.poll(timeoutMilliseconds: 100)
            while let message = try receive(socket) {
                if case .subscribed = message.reply { subscribed = true }
                if case .error(let error) = message.reply { throw ProtocolError(error.code, error.message) }
            }
        }
        ready.signal()
        var result = ConsumerResult()
        var seen = [Bool](repeating: false, count: count)
        var lastActivity = monotonicNanoseconds()
        while result.received < count {
            try poller.poll(timeoutMilliseconds: 100)
            var acks: [UInt64] = []
            while let message = try receive(socket) {
                guard case .deliver(let deliver) = message.reply else { continue }
                let now = monotonicNanoseconds()
                result.batches += 1
                for delivery in deliver.deliveries {
                    acks.append(delivery.deliveryID)
                    guard let payload = BenchPayload.read(delivery.event.payload), payload.sequence < UInt64(count) else {
                        result.malformed += 1
                        continue
                    }
                    if seen[Int(payload.sequence)] {
                        result.duplicates += 1
                        continue
                    }
                    seen[Int(payload.sequence)] = true
                    result.received += 1
                    _ = result.latencies.record(now > payload.timestamp ? (now - payload.timestamp) / 1000 : 0)
                }
                lastActivity = now
            }
            if !acks.isEmpty {
                var settle = Settle()
                settle.acks = acks
                try send(socket, .settle(settle), requestID: 0)
            }
            if monotonicNanoseconds() - lastActivity > 60_000_000_000 { break }
        }
        // A round trip after the final ack: its reply means the broker processed the ack.
        try send(socket, .stats(StatsRequest()), requestID: 2)
        var answered = false
        while !answered {
            try poller.poll(timeoutMilliseconds: 100)
            while let message = try receive(socket) { if message.requestID == 2 { answered = true } }
        }
        result.finalAckProcessed = monotonicNanoseconds()
        return result
    }

    /// Publishes `count` events pipelined with at most `window` unconfirmed.
    func runPublisher() throws -> PublisherResult {
        let socket = try Socket(context: try Context(), type: .dealer)
        try socket.connect(endpoint)
        var poller = Poller()
        poller.addReadable(socket)
        var result = PublisherResult()
        var sent = 0
        var requestID: UInt64 = 10
        let start = monotonicNanoseconds()
        let interval = rate.map { 1_000_000_000 / UInt64($0) } ?? 0
        result.firstPublish = start
        while result.confirmed + result.rejected < count {
            let now = monotonicNanoseconds()
            var room = min(window - (sent - result.confirmed - result.rejected), count - sent)
            if rate != nil {
                let due = Int((now - start) / interval) + 1
                room = min(room, due - sent)
                if now > start + UInt64(sent) * interval + maxLagNanoseconds {
                    result.gaveUpAfter = sent
                    return result
                }
            }
            if room > 0 {
                var publish = Publish()
                publish.items.reserveCapacity(room)
                for _ in 0..<room {
                    var item = PublishItem()
                    item.sequence = UInt64(sent)
                    item.event.topic = topic
                    item.event.id = "b\(sent)"
                    // Fixed rate: latency counts from the intended send time (no coordinated omission).
                    let stamp = rate == nil ? monotonicNanoseconds() : start + UInt64(sent) * interval
                    item.event.payload = BenchPayload.make(timestamp: stamp, sequence: UInt64(sent), size: payloadSize)
                    publish.items.append(item)
                    sent += 1
                }
                requestID += 1
                try send(socket, .publish(publish), requestID: requestID)
            }
            let outstanding = sent - result.confirmed - result.rejected
            var timeout = outstanding >= window || sent == count ? 100 : 0
            if rate != nil, sent < count, outstanding < window {
                let next = start + UInt64(sent) * interval
                let current = monotonicNanoseconds()
                let wait = next > current ? Int((next - current) / 1_000_000) : 0
                if wait > 0 {
                    timeout = min(wait, 100)
                } else if next > current {
                    sleep(untilNanoseconds: next)
                }
            }
            try poller.poll(timeoutMilliseconds: timeout)
            while let message = try receive(socket) {
                if case .publishResult(let published) = message.reply {
                    result.confirmed += published.confirmed.count
                    result.rejected += published.rejected.count
                    result.lastConfirm = monotonicNanoseconds()
                } else if case .error(let error) = message.reply {
                    throw ProtocolError(error.code, error.message)
                }
            }
        }
        return result
    }
}
