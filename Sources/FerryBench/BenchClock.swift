import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Time for the load generator: `CLOCK_MONOTONIC`, the clock the payload carries, and absolute
/// sleeps on it.
enum BenchClock {
    /// `CLOCK_MONOTONIC` in nanoseconds.
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// Sleeps until an absolute `CLOCK_MONOTONIC` time.
    static func sleep(until deadline: UInt64) {
        var spec = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &spec, nil) == EINTR {}
    }

    /// Sets the calling thread's timer slack to 1 ns (`prctl(PR_SET_TIMERSLACK)`), as the peers'
    /// fixed-rate publisher does, so sleeps end when asked. `prctl` is variadic, which Swift cannot
    /// call directly; it is looked up and called with its five integer arguments.
    static func minimizeTimerSlack() {
        #if os(Linux)
            typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") else { return }
            _ = unsafeBitCast(symbol, to: Prctl.self)(29, 1, 0, 0, 0)  // 29: PR_SET_TIMERSLACK
        #endif
    }

    /// CPU time (user + system) this process used so far, in seconds.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}

/// The peer benchmark's payload: bytes 0–7 the timestamp (`CLOCK_MONOTONIC` ns: the send time,
/// or the due time at a fixed rate), bytes 8–15 the sequence number, both little-endian, then
/// filler `x` up to the payload size (at least 16 bytes).
struct BenchPayload {
    private(set) var bytes: [UInt8]

    init(size: Int) { bytes = [UInt8](repeating: UInt8(ascii: "x"), count: max(size, 16)) }

    /// Stamps the reused buffer and hands it to `body`.
    mutating func stamped<R>(timestamp: UInt64, sequence: UInt64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: timestamp.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
            return body(UnsafeRawBufferPointer(raw))
        }
    }

    /// Reads the timestamp and sequence number of a received payload.
    static func read(_ payload: UnsafeRawBufferPointer) -> (timestamp: UInt64, sequence: UInt64)? {
        guard payload.count >= 16 else { return nil }
        return (
            UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        )
    }
}
