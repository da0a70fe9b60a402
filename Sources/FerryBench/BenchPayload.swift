import FerryRuntime

/// The peer benchmark's payload: bytes 0–7 the timestamp (``MonotonicInstant/nanoseconds``: the send time,
/// or the due time at a fixed rate), bytes 8–15 the sequence number, both little-endian, then
/// filler `x` up to the payload size (at least 16 bytes).
struct BenchPayload {
    private(set) var bytes: [UInt8]

    init(size: Int) { bytes = [UInt8](repeating: UInt8(ascii: "x"), count: max(size, 16)) }

    /// Stamps the reused buffer and hands it to `body`.
    mutating func stamped<R>(timestamp: MonotonicInstant, sequence: UInt64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: timestamp.nanoseconds.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
            return body(UnsafeRawBufferPointer(raw))
        }
    }

    /// Reads the timestamp and sequence number of a received payload.
    static func read(_ payload: UnsafeRawBufferPointer) -> (timestamp: MonotonicInstant, sequence: UInt64)? {
        guard payload.count >= 16 else { return nil }
        return (
            MonotonicInstant(nanoseconds: UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self))),
            UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        )
    }
}
