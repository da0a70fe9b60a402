/// Builds a `ServerMessage{deliver: Deliver{deliveries: [...]}}` frame directly from stored,
/// already-serialized events, so delivering never decodes and re-encodes an event.
///
/// Protobuf encodes an embedded message exactly like a `bytes` field, so the stored envelope
/// bytes are copied verbatim into field 5 of each `Delivery`.
public struct DeliveryEncoder {
    private var deliveries: [UInt8] = []
    /// Deliveries added since the last ``finish()``.
    public private(set) var count = 0

    public init() {}

    /// Appends one delivery.
    public mutating func append(
        subscriptionID: UInt32, deliveryID: UInt64, attempt: UInt32, offset: UInt64, event: [UInt8], lastError: String
    ) {
        var delivery: [UInt8] = []
        delivery.reserveCapacity(event.count + 40 + lastError.utf8.count)
        Self.appendVarintField(1, UInt64(subscriptionID), to: &delivery)
        Self.appendVarintField(2, deliveryID, to: &delivery)
        Self.appendVarintField(3, UInt64(attempt), to: &delivery)
        Self.appendVarintField(4, offset, to: &delivery)
        Self.appendBytesField(5, event, to: &delivery)
        if !lastError.isEmpty { Self.appendBytesField(6, Array(lastError.utf8), to: &delivery) }
        Self.appendBytesField(1, delivery, to: &deliveries)
        count += 1
    }

    /// The encoded `ServerMessage` holding every delivery appended so far; resets the encoder.
    public mutating func finish() -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(deliveries.count + 8)
        Self.appendBytesField(14, deliveries, to: &frame)
        deliveries.removeAll(keepingCapacity: true)
        count = 0
        return frame
    }

    /// Appends `value` as a protobuf varint.
    public static func appendVarint(_ value: UInt64, to buffer: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        buffer.append(UInt8(value))
    }

    static func appendVarintField(_ field: UInt64, _ value: UInt64, to buffer: inout [UInt8]) {
        guard value != 0 else { return }
        appendVarint(field << 3, to: &buffer)
        appendVarint(value, to: &buffer)
    }

    static func appendBytesField(_ field: UInt64, _ bytes: [UInt8], to buffer: inout [UInt8]) {
        appendVarint(field << 3 | 2, to: &buffer)
        appendVarint(UInt64(bytes.count), to: &buffer)
        buffer.append(contentsOf: bytes)
    }
}
