/// Identifies an event for deduplication: two independent 64-bit hashes of its topic and id,
/// so lookups never compare strings and a false match is practically impossible (~2⁻¹²⁷).
struct DedupKey: Hashable {
    /// Never zero: ``DedupTable`` marks free slots with a zero `high`.
    let high: UInt64
    let low: UInt64

    init(topic: String, id: String) {
        var topic = topic
        var id = id
        self = topic.withUTF8 { topicBytes in
            id.withUTF8 { idBytes in DedupKey(topic: UnsafeRawBufferPointer(topicBytes), id: UnsafeRawBufferPointer(idBytes)) }
        }
    }

    /// The key of the UTF-8 topic and id bytes, read in place.
    init(topic: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer) {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x8422_2325_cbf2_9ce4
        func mix(_ byte: UInt8) {
            first = (first ^ UInt64(byte)) &* 0x100_0000_01b3
            second = (second &+ UInt64(byte) &+ 1) &* 0x9e37_79b9_7f4a_7c15
            second ^= second >> 29
        }
        for byte in topic { mix(byte) }
        mix(0)
        for byte in id { mix(byte) }
        high = first | 1
        low = second
    }

    init(high: UInt64, low: UInt64) {
        self.high = high | 1
        self.low = low
    }
}
