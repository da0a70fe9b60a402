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
        // Written in place: the Delivery's size first, then its fields.
        let errorBytes = lastError.utf8.count
        var size =
            Self.varintFieldSize(1, UInt64(subscriptionID)) + Self.varintFieldSize(2, deliveryID)
            + Self.varintFieldSize(3, UInt64(attempt)) + Self.varintFieldSize(4, offset) + Self.bytesFieldSize(5, event.count)
        if errorBytes > 0 { size += Self.bytesFieldSize(6, errorBytes) }
        Self.appendVarint(1 << 3 | 2, to: &deliveries)
        Self.appendVarint(UInt64(size), to: &deliveries)
        Self.appendVarintField(1, UInt64(subscriptionID), to: &deliveries)
        Self.appendVarintField(2, deliveryID, to: &deliveries)
        Self.appendVarintField(3, UInt64(attempt), to: &deliveries)
        Self.appendVarintField(4, offset, to: &deliveries)
        Self.appendBytesField(5, event, to: &deliveries)
        if errorBytes > 0 {
            Self.appendVarint(6 << 3 | 2, to: &deliveries)
            Self.appendVarint(UInt64(errorBytes), to: &deliveries)
            deliveries.append(contentsOf: lastError.utf8)
        }
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
        if value < 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: value))
            return
        }
        // Longer ones are assembled first and appended at once: one capacity check, not ten.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 10) { scratch in
            var value = value
            var count = 0
            while value >= 0x80 {
                scratch[count] = UInt8(truncatingIfNeeded: value) | 0x80
                value >>= 7
                count += 1
            }
            scratch[count] = UInt8(value)
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[...count]))
        }
    }

    /// Bytes `value` takes as a protobuf varint.
    public static func varintSize(_ value: UInt64) -> Int {
        (64 - value.leadingZeroBitCount + 6) / 7 + (value == 0 ? 1 : 0)
    }

    /// Bytes a varint field takes (none for zero, which protobuf omits).
    static func varintFieldSize(_ field: UInt64, _ value: UInt64) -> Int {
        value == 0 ? 0 : varintSize(field << 3) + varintSize(value)
    }

    static func bytesFieldSize(_ field: UInt64, _ length: Int) -> Int {
        varintSize(field << 3 | 2) + varintSize(UInt64(length)) + length
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
