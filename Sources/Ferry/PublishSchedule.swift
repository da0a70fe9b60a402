import FerryProtocol
public import Foundation

/// When ferryd is to append a published event to its topic: at a wall-clock time, or after a
/// delay from when it reads the publish. Until then the event is stored and confirmed, but no
/// group receives it; it survives restarts and can be cancelled by its id
/// (``EventBus/cancelScheduled(topic:id:)``).
public enum PublishSchedule: Sendable, Equatable {
    /// Deliver no sooner than `date`; a date already past publishes at once.
    case at(Date)
    /// Deliver no sooner than `delay` after ferryd reads the publish.
    case after(Duration)

    /// The PublishItem fields (`deliver_at_us`, `deliver_after_ms`).
    var wire: (atMicros: UInt64, afterMilliseconds: UInt64) {
        switch self {
        case .at(let date):
            // Clamped: a date beyond what the field holds is refused by ferryd (too far ahead).
            let micros = min(max(date.timeIntervalSince1970 * 1_000_000, 1), 9.0e18).rounded(.up)
            return (UInt64(micros), 0)
        case .after(let delay):
            let (seconds, attoseconds) = delay.components
            let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            return (0, UInt64(max(milliseconds, 0)))
        }
    }
}

/// An event queued for publishing, and when it is to be appended (nil: at once).
struct OutgoingPublish: Sendable {
    var event: WireEvent
    var schedule: PublishSchedule?
}

/// What ferryd confirmed for one event: its offset, or that it is scheduled.
enum PublishOutcome: Sendable, Equatable {
    case stored(offset: UInt64)
    case scheduled(dueMicros: UInt64, duplicate: Bool)
}

/// What became of ``EventBus/cancelScheduled(topic:id:)``.
public struct ScheduledCancellation: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// Removed before it was due: no group will receive it.
        case cancelled
        /// No scheduled event has this topic and id: never scheduled, cancelled before, or
        /// already appended.
        case notScheduled
        /// It is due and being appended: too late to cancel.
        case alreadyDue
    }

    public let outcome: Outcome
    /// When it was (or is) due; nil for ``Outcome/notScheduled``.
    public let dueAt: Date?
}
