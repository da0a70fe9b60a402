import FerryProtocol

/// Hand-written protobuf for the load generator's hot paths, so that the generator spends its
/// CPU on load rather than on building and parsing message objects: `Publish` and `Settle`
/// frames are written into reused buffers, and `Deliver` and `PublishResult` replies are read
/// in place. Field numbers are those of `proto/ferry/v1/*.proto`; anything else is decoded
/// with SwiftProtobuf.
enum BenchWire {
    // ClientMessage fields.
    static let requestIDField: UInt64 = 1
    static let publishField: UInt64 = 11
    static let settleField: UInt64 = 14
    // ServerMessage fields.
    static let publishResultField: UInt64 = 11
    static let deliverField: UInt64 = 14

    static func appendVarint(_ value: UInt64, to buffer: inout [UInt8]) {
        DeliveryEncoder.appendVarint(value, to: &buffer)
    }

    static func varintSize(_ value: UInt64) -> Int {
        DeliveryEncoder.varintSize(value)
    }

    static func appendTag(_ field: UInt64, wireType: UInt64, to buffer: inout [UInt8]) {
        appendVarint(field << 3 | wireType, to: &buffer)
    }

    static func appendBytes(_ field: UInt64, _ bytes: some Collection<UInt8>, to buffer: inout [UInt8]) {
        appendTag(field, wireType: 2, to: &buffer)
        appendVarint(UInt64(bytes.count), to: &buffer)
        buffer.append(contentsOf: bytes)
    }

    /// Size of a length-delimited field holding `length` bytes.
    static func fieldSize(_ field: UInt64, length: Int) -> Int {
        varintSize(field << 3) + varintSize(UInt64(length)) + length
    }
}

/// Builds `ClientMessage{request_id, publish: Publish{items: [...]}}` frames into a reused buffer.
/// Every item carries one event with a topic, an id, a payload and perhaps a key.
struct PublishFrameBuilder {
    private(set) var frame: [UInt8] = []
    private var items: [UInt8] = []
    private(set) var count = 0
    private let topic: [UInt8]

    init(topic: String) {
        self.topic = Array(topic.utf8)
        frame.reserveCapacity(1 << 16)
        items.reserveCapacity(1 << 16)
    }

    /// Appends one `PublishItem{sequence, event: Event{topic, id, key, payload}}` (no key field
    /// when `key` is empty).
    mutating func append(
        sequence: UInt64, id: some Collection<UInt8>, key: ArraySlice<UInt8> = [], payload: UnsafeRawBufferPointer
    ) {
        let eventSize =
            BenchWire.fieldSize(1, length: topic.count) + BenchWire.fieldSize(2, length: id.count)
            + (key.isEmpty ? 0 : BenchWire.fieldSize(3, length: key.count)) + BenchWire.fieldSize(6, length: payload.count)
        let itemSize = (sequence == 0 ? 0 : 1 + BenchWire.varintSize(sequence)) + BenchWire.fieldSize(2, length: eventSize)
        BenchWire.appendTag(1, wireType: 2, to: &items)
        BenchWire.appendVarint(UInt64(itemSize), to: &items)
        if sequence != 0 {
            BenchWire.appendTag(1, wireType: 0, to: &items)
            BenchWire.appendVarint(sequence, to: &items)
        }
        BenchWire.appendTag(2, wireType: 2, to: &items)
        BenchWire.appendVarint(UInt64(eventSize), to: &items)
        BenchWire.appendBytes(1, topic, to: &items)
        BenchWire.appendBytes(2, id, to: &items)
        if !key.isEmpty { BenchWire.appendBytes(3, key, to: &items) }
        BenchWire.appendBytes(6, payload, to: &items)
        count += 1
    }

    /// Finishes the frame for `requestID` (read it from ``frame``) and empties the item list.
    mutating func finish(requestID: UInt64) {
        frame.removeAll(keepingCapacity: true)
        BenchWire.appendTag(BenchWire.requestIDField, wireType: 0, to: &frame)
        BenchWire.appendVarint(requestID, to: &frame)
        BenchWire.appendBytes(BenchWire.publishField, items, to: &frame)
        items.removeAll(keepingCapacity: true)
        count = 0
    }
}

/// Builds `ClientMessage{settle: Settle{acks: [...]}}` frames (packed acks) into a reused buffer.
struct SettleFrameBuilder {
    private(set) var frame: [UInt8] = []
    private var acks: [UInt8] = []
    private(set) var count = 0

    mutating func ack(_ deliveryID: UInt64) {
        BenchWire.appendVarint(deliveryID, to: &acks)
        count += 1
    }

    /// Finishes the frame (read it from ``frame``) and empties the ack list.
    mutating func finish() {
        frame.removeAll(keepingCapacity: true)
        let settleSize = BenchWire.fieldSize(1, length: acks.count)
        BenchWire.appendTag(BenchWire.settleField, wireType: 2, to: &frame)
        BenchWire.appendVarint(UInt64(settleSize), to: &frame)
        BenchWire.appendBytes(1, acks, to: &frame)
        acks.removeAll(keepingCapacity: true)
        count = 0
    }
}
