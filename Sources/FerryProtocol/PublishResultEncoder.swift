/// Builds the `ServerMessage{publish_result: PublishResult}` frame that confirms a publish with
/// no rejections, the reply to nearly every Publish, without SwiftProtobuf's visitor: the same
/// bytes SwiftProtobuf writes (fields in number order, repeated integers packed, empty ones
/// and a zero request id omitted).
public enum PublishResultEncoder {
    /// The field of `ServerMessage` that holds a `PublishResult`.
    static let publishResultField: UInt64 = 11

    /// The frame confirming `confirmed` (publish sequences) at `offsets`, in the same order.
    public static func encode(requestID: UInt64, confirmed: [UInt64], offsets: [UInt64]) -> [UInt8] {
        let confirmedBytes = packedSize(confirmed)
        let offsetsBytes = packedSize(offsets)
        var resultSize = 0
        if !confirmed.isEmpty { resultSize += DeliveryEncoder.bytesFieldSize(1, confirmedBytes) }
        if !offsets.isEmpty { resultSize += DeliveryEncoder.bytesFieldSize(3, offsetsBytes) }
        var frame: [UInt8] = []
        frame.reserveCapacity(DeliveryEncoder.varintFieldSize(1, requestID) + DeliveryEncoder.bytesFieldSize(11, resultSize))
        DeliveryEncoder.appendVarintField(1, requestID, to: &frame)
        DeliveryEncoder.appendVarint(publishResultField << 3 | 2, to: &frame)
        DeliveryEncoder.appendVarint(UInt64(resultSize), to: &frame)
        appendPacked(1, confirmed, size: confirmedBytes, to: &frame)
        appendPacked(3, offsets, size: offsetsBytes, to: &frame)
        return frame
    }

    private static func packedSize(_ values: [UInt64]) -> Int {
        values.reduce(0) { $0 + DeliveryEncoder.varintSize($1) }
    }

    private static func appendPacked(_ field: UInt64, _ values: [UInt64], size: Int, to frame: inout [UInt8]) {
        guard !values.isEmpty else { return }
        DeliveryEncoder.appendVarint(field << 3 | 2, to: &frame)
        DeliveryEncoder.appendVarint(UInt64(size), to: &frame)
        for value in values { DeliveryEncoder.appendVarint(value, to: &frame) }
    }
}
