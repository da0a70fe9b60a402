#if canImport(Glibc)
    import Glibc
#endif

/// A moment as the broker sees it: the time every input is handled at.
///
/// The broker never reads a clock itself. Whoever drives it passes the time in: ``BrokerServer``
/// the system's clocks, an embedded test broker a manual clock. So retries, ack timeouts,
/// heartbeats and held replies are decided by the inputs alone.
public struct BrokerTime: Sendable, Hashable {
    /// Monotonic nanoseconds: deadlines, timeouts and schedules are measured on this.
    public var uptimeNanoseconds: UInt64
    /// Wall-clock microseconds since the Unix epoch: the timestamps stored and shown to peers.
    public var wallMicroseconds: Int64

    public init(uptimeNanoseconds: UInt64, wallMicroseconds: Int64) {
        self.uptimeNanoseconds = uptimeNanoseconds
        self.wallMicroseconds = wallMicroseconds
    }

    /// The system's clocks now (`CLOCK_MONOTONIC` and `CLOCK_REALTIME`).
    public static func now() -> BrokerTime {
        var monotonic = timespec()
        clock_gettime(CLOCK_MONOTONIC, &monotonic)
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        return BrokerTime(
            uptimeNanoseconds: UInt64(monotonic.tv_sec) * 1_000_000_000 + UInt64(monotonic.tv_nsec),
            wallMicroseconds: Int64(wall.tv_sec) * 1_000_000 + Int64(wall.tv_nsec) / 1000)
    }

    /// This moment moved on by `duration` on both clocks.
    public func advanced(by duration: Duration) -> BrokerTime {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        return BrokerTime(
            uptimeNanoseconds: UInt64(Int64(uptimeNanoseconds) + nanoseconds),
            wallMicroseconds: wallMicroseconds + nanoseconds / 1000)
    }
}
