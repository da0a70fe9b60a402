import Ferry
import Foundation

/// A trace as a tree for the terminal: each event, its steps grouped by consumer group, then
/// the events it caused, indented under it.
struct TraceRendering {
    let trace: EventTrace
    /// Microseconds of the first publish: every time is shown relative to it.
    let origin: Int64

    init(_ trace: EventTrace) {
        self.trace = trace
        origin = trace.events.map(\.publishedAtMicros).min() ?? 0
    }

    var text: String {
        var lines: [String] = []
        var shown: Set<String> = []
        for root in trace.roots { render(root, depth: 0, into: &lines, shown: &shown) }
        if trace.truncated { lines.append("… more events match: raise --max-events") }
        if trace.sampling != "all" { lines.append("(ferryd traces \(trace.sampling): events or steps may be missing)") }
        return lines.joined(separator: "\n") + "\n"
    }

    private func render(_ event: EventTrace.Event, depth: Int, into lines: inout [String], shown: inout Set<String>) {
        let address = "\(event.topic)#\(event.offset)"
        guard shown.insert(address).inserted else { return }
        let indent = String(repeating: "    ", count: depth)
        let lead = depth == 0 ? "" : "└─ caused "
        var head = "\(indent)\(lead)\(event.type.isEmpty ? "event" : event.type) \(event.id)  \(event.topic)@\(event.offset)"
        if !event.key.isEmpty { head += "  key \(event.key)" }
        head += "  published \(relative(event.publishedAtMicros))"
        if !event.publisher.isEmpty { head += " by \(event.publisher)" }
        lines.append(head)
        let body = indent + (depth == 0 ? "  " : "     ")
        var groups: [String] = []
        for step in event.steps where !groups.contains(step.group) { groups.append(step.group) }
        for group in groups {
            let label = group.isEmpty ? "" : "[\(group)] "
            for step in event.steps where step.group == group {
                lines.append(body + label + describe(step))
            }
        }
        if event.stepsTruncated { lines.append(body + "… more steps were recorded") }
        for child in trace.children(of: event) { render(child, depth: depth + 1, into: &lines, shown: &shown) }
    }

    private func describe(_ step: EventTrace.Step) -> String {
        let at = relative(step.atMicros)
        switch step.kind {
        case .duplicate: return "\(at) duplicate publish by \(step.actor), confirmed as this event"
        case .delivered: return "\(at) delivered to \(step.actor) (attempt \(step.attempt))"
        case .acked: return "\(at) acked by \(step.actor)"
        case .nacked: return "\(at) failed in \(step.actor): \(step.detail)"
        case .released: return "\(at) released by \(step.actor)"
        case .ackTimeout: return "\(at) not acked by \(step.actor): \(step.detail)"
        case .memberLost: return "\(at) lost with \(step.actor): \(step.detail)"
        case .retryScheduled:
            let delay = step.delayMilliseconds.map { " in \(Self.duration(microseconds: Int64($0) * 1000))" } ?? ""
            return "\(at) retry scheduled: attempt \(step.attempt)\(delay)"
        case .deadLettered: return "\(at) dead-lettered after \(step.attempt) attempt\(step.attempt == 1 ? "" : "s"): \(step.detail)"
        case .requeued: return "\(at) requeued from the dead-letter queue by \(step.actor)"
        case .replayed: return "\(at) replayed (cursor moved back) by \(step.actor)"
        case .unknown: return "\(at) \(step.detail)"
        }
    }

    private func relative(_ micros: Int64) -> String {
        "+" + Self.duration(microseconds: micros - origin)
    }

    /// `850 µs`, `12.3 ms`, `4.250 s`, `3 min 20 s`.
    static func duration(microseconds: Int64) -> String {
        let value = max(0, microseconds)
        if value < 1000 { return "\(value) µs" }
        if value < 1_000_000 { return String(format: "%.1f ms", Double(value) / 1000) }
        if value < 120_000_000 { return String(format: "%.3f s", Double(value) / 1_000_000) }
        return "\(value / 60_000_000) min \(value / 1_000_000 % 60) s"
    }
}
