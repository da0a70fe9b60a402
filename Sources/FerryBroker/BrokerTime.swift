public import FerryRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// A moment as the broker sees it: the time every input is handled at.
///
/// The broker never reads a clock itself. Whoever drives it passes the time in: ``BrokerServer``
/// the system's clocks, an embedded test broker a manual clock. So retries, ack timeouts,
/// heartbeats and held replies are decided by the inputs alone.
public struct BrokerTime: Sendable, Hashable {
    /// The monotonic clock: deadlines, timeouts and schedules are measured on this.
    public var monotonic: MonotonicInstant
    /// Wall-clock microseconds since the Unix epoch: the timestamps stored and shown to peers.
    public var wallMicroseconds: Int64

    public init(monotonic: MonotonicInstant, wallMicroseconds: Int64) {
        self.monotonic = monotonic
        self.wallMicroseconds = wallMicroseconds
    }

    /// The system's clocks now (``MonotonicInstant`` and `CLOCK_REALTIME`).
    public static func now() -> BrokerTime {
        let monotonic = MonotonicInstant.now()
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        let sinceEpoch = Nanoseconds.seconds(wall.tv_sec) + .nanoseconds(wall.tv_nsec)
        return BrokerTime(monotonic: monotonic, wallMicroseconds: Int64(sinceEpoch.wholeMicroseconds))
    }

    /// The moment `monotonic`, a little after this one: the wall clock moved on as much (read
    /// from one clock instead of two, for the per-message path).
    @inlinable
    public func at(_ monotonic: MonotonicInstant) -> BrokerTime {
        BrokerTime(monotonic: monotonic, wallMicroseconds: wallMicroseconds + Int64((monotonic - self.monotonic).wholeMicroseconds))
    }

    /// This moment moved on by `duration` on both clocks.
    public func advanced(by duration: Duration) -> BrokerTime {
        BrokerTime(monotonic: monotonic.advanced(by: duration), wallMicroseconds: wallMicroseconds + duration.wholeMicroseconds)
    }
}
