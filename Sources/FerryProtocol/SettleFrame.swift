/// A `ClientMessage` whose command is a `Settle` of acks only, what a consumer sends for nearly
/// every batch it handles, read in place: its delivery ids, with no message objects built.
///
/// ``readAcks(_:into:)`` takes only frames that SwiftProtobuf reads the same way: any other
/// command, a `Settle` with nacks, a repeated command field (which protobuf merges) or malformed
/// input are left to SwiftProtobuf, which is the reference.
public enum SettleFrame {
    /// The field of `ClientMessage` that holds a `Settle`.
    static let settleField: UInt64 = 14

    /// Appends the acked delivery ids of `frame` to `acks` and returns true, if `frame` is a
    /// `ClientMessage` carrying a `Settle` of acks only; otherwise returns false and leaves
    /// `acks` as it was.
    public static func readAcks(_ frame: UnsafeRawBufferPointer, into acks: inout [UInt64]) -> Bool {
        var settle: UnsafeRawBufferPointer?
        var reader = ProtoReader(frame)
        while let (field, value) = reader.next() {
            switch (field, value) {
            case (1, .varint): continue
            case (settleField, .bytes(let bytes)) where settle == nil: settle = bytes
            case (1, _), (PublishFrame.commandFields, _): return false
            default: continue
            }
        }
        guard !reader.malformed, let settle else { return false }
        let start = acks.count
        var complete = false
        defer { if !complete { acks.removeSubrange(start...) } }
        var fields = ProtoReader(settle)
        while let (field, value) = fields.next() {
            switch (field, value) {
            case (1, .varint(let deliveryID)): acks.append(deliveryID)
            case (1, .bytes(let packed)): guard appendPacked(packed, to: &acks) else { return false }
            case (1, _), (2, _): return false
            default: continue
            }
        }
        complete = !fields.malformed
        return complete
    }

    /// The varints of a packed repeated field; false if one runs past its end.
    private static func appendPacked(_ bytes: UnsafeRawBufferPointer, to values: inout [UInt64]) -> Bool {
        var reader = ProtoReader(bytes)
        while !reader.isAtEnd {
            guard let value = reader.readVarint() else { return false }
            values.append(value)
        }
        return true
    }
}
