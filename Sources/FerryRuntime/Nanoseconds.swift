/// A span of time as a whole number of nanoseconds, for the paths that run per message, where
/// `Duration`'s 128-bit arithmetic is not wanted: a deadline is ``MonotonicInstant`` plus one of
/// these, and the units are named (`.milliseconds(5)`) instead of spelled out as factors.
///
/// Spans are not negative: subtraction stops at zero. Anywhere off the per-message path, use
/// `Duration` (``duration`` and ``init(_:)`` convert).
public struct Nanoseconds: Sendable, Hashable, Comparable {
    /// The span in nanoseconds.
    public var value: UInt64

    @inlinable
    public init(value: UInt64) { self.value = value }

    /// `duration` in whole nanoseconds (its fraction dropped); zero if it is negative.
    public init(_ duration: Duration) {
        self.init(value: UInt64(clamping: Self.signedCount(of: duration)))
    }

    @inlinable
    public static func nanoseconds<T: BinaryInteger>(_ count: T) -> Nanoseconds { Nanoseconds(value: UInt64(count)) }

    @inlinable
    public static func microseconds<T: BinaryInteger>(_ count: T) -> Nanoseconds { Nanoseconds(value: UInt64(count) * 1000) }

    @inlinable
    public static func milliseconds<T: BinaryInteger>(_ count: T) -> Nanoseconds { .microseconds(UInt64(count) * 1000) }

    @inlinable
    public static func seconds<T: BinaryInteger>(_ count: T) -> Nanoseconds { .milliseconds(UInt64(count) * 1000) }

    public static let zero = Nanoseconds(value: 0)

    /// The span in whole milliseconds (rounded down).
    @inlinable
    public var wholeMilliseconds: UInt64 { value / Self.milliseconds(1).value }

    /// The span in whole microseconds (rounded down).
    @inlinable
    public var wholeMicroseconds: UInt64 { value / Self.microseconds(1).value }

    /// The span in seconds, with its fraction.
    public var seconds: Double { Double(value) / Double(Self.seconds(1).value) }

    /// The span as a `Duration`.
    public var duration: Duration { .nanoseconds(Int64(clamping: value)) }

    /// Whole seconds and the nanoseconds left over, as a `timespec` holds them.
    public var secondsAndNanoseconds: (seconds: Int, nanoseconds: Int) {
        let second = Self.seconds(1).value
        return (Int(value / second), Int(value % second))
    }

    @inlinable
    public static func + (lhs: Nanoseconds, rhs: Nanoseconds) -> Nanoseconds { Nanoseconds(value: lhs.value + rhs.value) }

    /// The difference, or zero if `rhs` is the longer.
    @inlinable
    public static func - (lhs: Nanoseconds, rhs: Nanoseconds) -> Nanoseconds {
        Nanoseconds(value: lhs.value > rhs.value ? lhs.value - rhs.value : 0)
    }

    @inlinable
    public static func * (lhs: Nanoseconds, rhs: UInt64) -> Nanoseconds { Nanoseconds(value: lhs.value * rhs) }

    @inlinable
    public static func < (lhs: Nanoseconds, rhs: Nanoseconds) -> Bool { lhs.value < rhs.value }

    /// `duration` in whole nanoseconds, negative for a negative duration.
    static func signedCount(of duration: Duration) -> Int64 {
        let (wholeSeconds, attoseconds) = duration.components
        let attosecondsPerNanosecond: Int64 = 1_000_000_000
        let (scaled, overflow) = wholeSeconds.multipliedReportingOverflow(by: Int64(seconds(1).value))
        let (total, overflowAgain) = scaled.addingReportingOverflow(attoseconds / attosecondsPerNanosecond)
        guard !overflow && !overflowAgain else { return wholeSeconds < 0 ? .min : .max }
        return total
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded towards zero (as `poll(2)` and `zmq_poll` take
    /// a timeout).
    public var wholeMilliseconds: Int64 { Nanoseconds.signedCount(of: self) / Int64(Nanoseconds.milliseconds(1).value) }

    /// The duration in whole microseconds, rounded towards zero.
    public var wholeMicroseconds: Int64 { Nanoseconds.signedCount(of: self) / Int64(Nanoseconds.microseconds(1).value) }
}
