import Benchmark
import FerryBroker
import FerryProtocol
import FerryStorage
import Foundation
import Logging

/// Ferry's hot paths, each measured per batch of events (the unit the broker works in):
/// frame encode and decode (WireFormat, DeliveryEncoder), log append (DurableEventLog) and
/// delivery dispatch (the Broker state machine, publish → deliver → ack, no sockets).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        warmupIterations: 10,
        maxDuration: .seconds(3),
        maxIterations: 100_000)

    let publishFrame = Fixtures.publishFrame(events: 100, payloadBytes: 100)

    Benchmark("Publish frame encode (100 events × 100 B)") { benchmark in
        let message = Fixtures.publishMessage(events: 100, payloadBytes: 100)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(WireFormat.encode(message)) }
    }

    Benchmark("Publish frame decode (100 events × 100 B)") { benchmark in
        for _ in benchmark.scaledIterations {
            publishFrame.withUnsafeBytes { bytes in
                blackHole(try? WireFormat.decode(ClientMessage.self, from: bytes))
            }
        }
    }

    Benchmark("Deliver frame encode, DeliveryEncoder (256 stored events)") { benchmark in
        let stored = Fixtures.storedEnvelope(payloadBytes: 100)
        var encoder = DeliveryEncoder()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for index in 0..<256 {
                encoder.append(
                    subscriptionID: 1, deliveryID: UInt64(index + 1), attempt: 1, offset: UInt64(index), event: stored, lastError: "")
            }
            blackHole(encoder.finish())
        }
    }

    // One store for the whole benchmark, as the broker keeps one: each sample appends the next
    // batch of new events (ids, offsets and timestamps counting up) to a topic that exists.
    // Opening the store, creating the topic, closing the store and deleting its directory (what
    // a store per sample cost, about 3 ms) are outside the measurement.
    let appends = AppendHarness()
    Benchmark(
        "Log append, fsync never (100 events × 140 B)",
        closure: { benchmark in
            let batches = benchmark.scaledIterations.map { _ in appends.nextBatch(events: 100) }
            benchmark.startMeasurement()
            for batch in batches { blackHole(try appends.store!.append(topic: "bench", events: batch)) }
        }, setup: { try appends.open() }, teardown: { appends.close() })

    // One broker for the whole benchmark, as the server keeps one: each sample runs its cycles on
    // a broker that has a subscribed consumer and has already carried every earlier cycle.
    // Building the broker and subscribing (what a broker per sample cost, with its cold first
    // cycle) are outside the measurement, and so are encoding the consumer's acks (the client's
    // work, done before the clock starts) and the check, after it stops, that every delivery was
    // acked.
    let dispatch = DispatchHarness(events: 256)
    Benchmark(
        "Broker dispatch: publish → deliver → ack (256 events, in memory)",
        closure: { benchmark in
            let settles = benchmark.scaledIterations.map { _ in dispatch.nextSettle() }
            var frames = 0
            benchmark.startMeasurement()
            for settle in settles { frames += dispatch.cycle(settle: settle) }
            benchmark.stopMeasurement()
            blackHole(frames)
            if let problem = dispatch.check(cycles: settles.count, frames: frames) { benchmark.error(problem) }
        }, setup: { dispatch.open() }, teardown: { dispatch.close() })
}

/// Messages and frames the benchmarks reuse.
enum Fixtures {
    static func publishMessage(events: Int, payloadBytes: Int) -> ClientMessage {
        var publish = Publish()
        publish.items = (0..<events).map { index in
            var item = PublishItem()
            item.sequence = UInt64(index)
            item.event.topic = "bench"
            item.event.id = "event-\(index)"
            item.event.payload = Data(repeating: UInt8(ascii: "x"), count: payloadBytes)
            return item
        }
        var message = ClientMessage()
        message.requestID = 7
        message.command = .publish(publish)
        return message
    }

    static func publishFrame(events: Int, payloadBytes: Int) -> [UInt8] {
        WireFormat.encode(publishMessage(events: events, payloadBytes: payloadBytes))
    }

    /// An event as the broker stores it: the serialized `Event` envelope.
    static func storedEnvelope(payloadBytes: Int) -> [UInt8] {
        var event = WireEvent()
        event.topic = "bench"
        event.id = "event-0"
        event.payload = Data(repeating: UInt8(ascii: "x"), count: payloadBytes)
        event.storedAtUs = 1_700_000_000_000_000
        return WireFormat.encode(event)
    }
}

/// A durable store (fsync `never`) in a temporary directory, open from the benchmark's setup to
/// its teardown, and the batches of new events appended to it.
final class AppendHarness {
    private(set) var store: DurableEventLog?
    private var directory: URL?
    private let body = Fixtures.storedEnvelope(payloadBytes: 100)
    private var appended = 0
    private let startMicros = Int64(Date().timeIntervalSince1970 * 1_000_000)

    func open() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-benchmark-\(UUID().uuidString)")
        var configuration = DurableStoreConfiguration(directory: directory.path)
        configuration.defaults.fsync = .never
        self.directory = directory
        store = try DurableEventLog(configuration: configuration)
        _ = try store!.append(topic: "bench", events: nextBatch(events: 100))
    }

    func close() {
        store?.close()
        store = nil
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// The next `events` events as the broker would append them: new ids, a body of their own
    /// each, and one timestamp per batch, later than the previous batch's.
    func nextBatch(events: Int) -> [NewEvent] {
        let timestamp = startMicros + Int64(appended)
        defer { appended += events }
        return (appended..<appended + events).map { index in
            NewEvent(key: "", timestampMicros: timestamp, body: body.withUnsafeBufferPointer { Array($0) }, id: "id-\(index)")
        }
    }
}

/// A broker over an in-memory store with one subscribed consumer, open from the benchmark's
/// setup to its teardown; each cycle publishes a batch, dispatches it, and acks every delivery,
/// as the server loop would, without sockets.
///
/// Deduplication is off, so the same Publish frame is new events every cycle: each is stored at
/// the next offset with a body of its own, delivered and acked. Each step ends a pass as the
/// server does (`.passEnded`: dispatch, housekeeping, fsyncs and saves), so what every group
/// acked is released from the store and memory stays flat however many cycles run.
final class DispatchHarness {
    private var broker: Broker?
    private let publisher: [UInt8] = [0, 1]
    private let consumer: [UInt8] = [0, 2]
    private let publishFrame: [UInt8]
    private let events: Int
    private var delivered: UInt64 = 0

    init(events: Int) {
        self.events = events
        publishFrame = Fixtures.publishFrame(events: events, payloadBytes: 100)
    }

    func open() {
        var configuration = BrokerConfiguration()
        configuration.dedupWindowMilliseconds = 0  // the same ids every cycle
        configuration.storage = .memory(maxBytes: 1 << 40)
        var logger = Logger(label: "benchmark")
        logger.logLevel = .critical
        broker = Broker(configuration: configuration, storage: .inMemory(maxBytes: 1 << 40), logger: logger, at: .now())
        delivered = 0
        var subscribe = Subscribe()
        subscribe.group = "bench"
        subscribe.patterns = ["bench"]
        subscribe.maxInFlight = 10_000
        var message = ClientMessage()
        message.requestID = 1
        message.command = .subscribe(subscribe)
        deliver(WireFormat.encode(message), from: consumer)
        // The publisher has a session too: a connection without one is told so once a second,
        // a frame the cycles do not count.
        var hello = ClientMessage()
        hello.requestID = 2
        hello.command = .hello(Hello())
        deliver(WireFormat.encode(hello), from: publisher)
        _ = takeOutbox()
        warmUp()
    }

    /// One cycle before any measurement, acked from the Deliver frame it produced: each session
    /// numbers its deliveries from a random point, which the later cycles' acks count up from.
    private func warmUp() {
        deliver(publishFrame, from: publisher)
        var ids: [UInt64] = []
        for outbound in takeOutbox() where outbound.peerRoutingID == consumer {
            let message = outbound.frame.withUnsafeBytes { try? WireFormat.decode(ServerMessage.self, from: $0) }
            if case .deliver(let deliver)? = message?.reply { ids += deliver.deliveries.map(\.deliveryID) }
        }
        precondition(ids.count == events, "the warm-up cycle delivered \(ids.count) of \(events) events")
        deliver(Self.settleFrame(acks: ids), from: consumer)
        _ = takeOutbox()
        delivered = ids.max()!
    }

    func close() {
        broker = nil
    }

    /// The frames the broker produced since the last call.
    private func takeOutbox() -> [Broker.Outbound] {
        var frames: [Broker.Outbound] = []
        broker!.sendOutbox { frames.append($0) }
        return frames
    }

    private func deliver(_ body: [UInt8], from peer: [UInt8]) {
        let broker = broker!
        WireFormat.signature.withUnsafeBytes { signature in
            body.withUnsafeBytes { bytes in
                broker.handle(.message(routingID: peer, frameCount: 2, signature: signature, body: bytes), at: .now())
            }
        }
        broker.handle(.passEnded, at: .now())
    }

    /// The consumer's Settle frame acking the next cycle's deliveries. Delivery ids count up by
    /// one from the warm-up's, so the acks are known without decoding the Deliver frames.
    func nextSettle() -> [UInt8] {
        defer { delivered += UInt64(events) }
        return Self.settleFrame(acks: Array(delivered + 1...delivered + UInt64(events)))
    }

    private static func settleFrame(acks: [UInt64]) -> [UInt8] {
        var settle = Settle()
        settle.acks = acks
        var message = ClientMessage()
        message.command = .settle(settle)
        return WireFormat.encode(message)
    }

    /// One batch through the broker, acked with `settle` (from ``nextSettle()``, in order);
    /// returns the number of frames it produced (the publish result and one Deliver).
    func cycle(settle: [UInt8]) -> Int {
        deliver(publishFrame, from: publisher)
        let produced = takeOutbox().count
        deliver(settle, from: consumer)
        return produced + takeOutbox().count
    }

    /// Why the last `cycles` cycles, which produced `frames` frames, did not do the work they
    /// stand for; nil when each produced its two frames and no delivery is left unacked.
    func check(cycles: Int, frames: Int) -> String? {
        guard let broker else { return "the broker is not open" }
        if frames != 2 * cycles { return "\(cycles) cycles produced \(frames) frames, not \(2 * cycles)" }
        if broker.inFlightCount != 0 { return "\(broker.inFlightCount) deliveries left unacked" }
        return nil
    }
}
