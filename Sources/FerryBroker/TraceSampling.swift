import Foundation

/// Which events the broker records in its trace log.
public enum TraceSampling: Sendable, Equatable, CustomStringConvertible {
    /// Every event, every step.
    case all
    /// This share of events (0 to 1), chosen by a hash of topic and offset so that every step of
    /// a chosen event is kept. Chains are sampled event by event.
    case fraction(Double)
    /// Only events that failed at least once (nack, ack timeout, lost member), from their first
    /// failure on; that record starts with the event as stored and the failed delivery.
    case failures

    /// `all`, `failures`, a fraction such as `0.1`, or `fraction:0.1`; nil for anything else.
    public init?(_ text: String) {
        switch text {
        case "all": self = .all
        case "failures": self = .failures
        default:
            let number = text.hasPrefix("fraction:") ? String(text.dropFirst("fraction:".count)) : text
            guard let share = Double(number), share >= 0, share <= 1 else { return nil }
            self = share == 1 ? .all : .fraction(share)
        }
    }

    /// `share` as a plain decimal number (never an exponent): `0.1`, `0.00001`.
    private static func decimal(_ share: Double) -> String {
        var text = String(format: "%.9f", share)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    public var description: String {
        switch self {
        case .all: "all"
        case .failures: "failures"
        case .fraction(let share): "fraction:" + Self.decimal(share)
        }
    }
}
