import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The peer benchmark's payload: bytes 0–7 the publish timestamp (CLOCK_MONOTONIC ns), 8–15 the
/// sequence number, both little-endian, then filler `x` up to the payload size.
enum BenchPayload {
    static func make(timestamp: UInt64, sequence: UInt64, size: Int) -> Data {
        var data = Data(count: max(size, 16))
        data.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: timestamp.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
            for index in 16..<raw.count { raw[index] = UInt8(ascii: "x") }
        }
        return data
    }

    static func read(_ payload: Data) -> (timestamp: UInt64, sequence: UInt64)? {
        guard payload.count >= 16 else { return nil }
        return payload.withUnsafeBytes { raw in
            (
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            )
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock the payload carries.
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Sleeps until an absolute CLOCK_MONOTONIC time.
func sleep(untilNanoseconds deadline: UInt64) {
    var spec = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &spec, nil) == EINTR {}
}
