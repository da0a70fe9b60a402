#if canImport(Glibc)
    import Glibc
#endif

/// Time sources for the broker loop.
enum Clock {
    /// Monotonic nanoseconds, for deadlines.
    static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// Wall-clock microseconds since the Unix epoch, for timestamps peers read.
    static func wallMicroseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }
}
