#if canImport(Glibc)
    public import Glibc
#endif

/// A moment on the system's monotonic clock (`CLOCK_MONOTONIC`): Ferry's one clock for
/// deadlines, timeouts, intervals and latencies.
///
/// It is an integer count of nanoseconds, so reading it and adding a ``Nanoseconds`` span cost
/// what the raw integer arithmetic cost, on paths run per message; elsewhere it works with
/// `Duration` (it is an `InstantProtocol` instant). The count is the one other processes on the
/// machine read too, so it may travel in a payload (``nanoseconds``) and be compared there.
public struct MonotonicInstant: InstantProtocol, Sendable {
    /// Nanoseconds on `CLOCK_MONOTONIC` (since an unspecified point, usually the boot).
    public var nanoseconds: UInt64

    @inlinable
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The clock now.
    @inlinable
    public static func now() -> MonotonicInstant {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return MonotonicInstant(nanoseconds: (Nanoseconds.seconds(Int(spec.tv_sec)) + .nanoseconds(Int(spec.tv_nsec))).value)
    }

    /// This moment moved on by `span`.
    @inlinable
    public static func + (instant: MonotonicInstant, span: Nanoseconds) -> MonotonicInstant {
        MonotonicInstant(nanoseconds: instant.nanoseconds + span.value)
    }

    /// How long after `earlier` this is; zero if it is not after it.
    @inlinable
    public static func - (later: MonotonicInstant, earlier: MonotonicInstant) -> Nanoseconds {
        Nanoseconds(value: later.nanoseconds > earlier.nanoseconds ? later.nanoseconds - earlier.nanoseconds : 0)
    }

    /// This moment moved on (or back, for a negative duration) by `duration`.
    public func advanced(by duration: Duration) -> MonotonicInstant {
        MonotonicInstant(nanoseconds: UInt64(clamping: Int64(clamping: nanoseconds) + Nanoseconds.signedCount(of: duration)))
    }

    /// The time from this moment to `other` (negative if `other` is earlier).
    public func duration(to other: MonotonicInstant) -> Duration {
        .nanoseconds(Int64(clamping: other.nanoseconds) - Int64(clamping: nanoseconds))
    }

    public static func + (instant: MonotonicInstant, duration: Duration) -> MonotonicInstant { instant.advanced(by: duration) }

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// Sleeps the calling thread until the clock reaches this moment (at once if it has), with an
    /// absolute deadline, so a late wake-up does not push the next one back.
    public func sleepUntil() {
        let (seconds, nanoseconds) = Nanoseconds(value: self.nanoseconds).secondsAndNanoseconds
        var spec = timespec(tv_sec: seconds, tv_nsec: nanoseconds)
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &spec, nil) == EINTR {}
    }

    /// Sleeps the calling thread for `duration` (at once for none).
    public static func sleep(for duration: Duration) {
        guard duration > .zero else { return }
        (now() + duration).sleepUntil()
    }
}
