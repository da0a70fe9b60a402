import Foundation

extension EventTrace {
    /// Microseconds since the epoch of the first publish: timelines show times relative to it.
    public var origin: Int64 { events.map(\.publishedAtMicros).min() ?? 0 }

    /// Every event once, each after the event that caused it, with its depth in the chain (0 for
    /// a root): the order a timeline shows them in. Events in a causation cycle (ids reused)
    /// come after the rest, each once.
    public var tree: [(event: Event, depth: Int)] {
        var childrenByCause: [String: [Int]] = [:]
        for (index, event) in events.enumerated() where !event.causationID.isEmpty {
            childrenByCause[event.causationID, default: []].append(index)
        }
        let ids = Set(events.map(\.id))
        var shown = Set<Int>()
        var ordered: [(event: Event, depth: Int)] = []
        // Depth first without recursion: a chain may be thousands of events deep.
        func walk(from root: Int) {
            var stack = [(index: root, depth: 0)]
            while let (index, depth) = stack.popLast() {
                guard shown.insert(index).inserted else { continue }
                ordered.append((events[index], depth))
                let event = events[index]
                guard !event.id.isEmpty else { continue }
                for child in (childrenByCause[event.id] ?? []).reversed() where !shown.contains(child) {
                    stack.append((child, depth + 1))
                }
            }
        }
        for index in events.indices where events[index].causationID.isEmpty || !ids.contains(events[index].causationID) {
            walk(from: index)
        }
        for index in events.indices where !shown.contains(index) { walk(from: index) }
        return ordered
    }

    /// The timeline as text, one line per event and step: each event (indented under the event
    /// that caused it) with its steps grouped by consumer group, times relative to the first
    /// publish. What `ferry trace` prints.
    public var timeline: String {
        let origin = origin
        func relative(_ micros: Int64) -> String { "+" + Self.duration(microseconds: micros - origin) }
        var lines: [String] = []
        for (event, depth) in tree {
            let indent = String(repeating: "    ", count: depth)
            var head = "\(indent)\(depth == 0 ? "" : "└─ caused ")\(event.type.isEmpty ? "event" : event.type) \(event.id)"
            head += "  \(event.topic)@\(event.offset)"
            if !event.key.isEmpty { head += "  key \(event.key)" }
            head += "  published \(relative(event.publishedAtMicros))"
            if !event.publisher.isEmpty { head += " by \(event.publisher)" }
            lines.append(head)
            let body = indent + (depth == 0 ? "  " : "     ")
            for group in Self.groups(of: event) {
                let label = group.isEmpty ? "" : "[\(group)] "
                for step in event.steps where step.group == group {
                    lines.append("\(body)\(label)\(relative(step.atMicros)) \(step.summary)")
                }
            }
            if event.stepsTruncated { lines.append(body + "… more steps were recorded") }
        }
        if truncated { lines.append("… more events match") }
        if sampling != "all" { lines.append("(ferryd traces \(sampling): events or steps may be missing)") }
        return lines.map { $0 + "\n" }.joined()
    }

    /// The consumer groups of `event`'s steps, in the order they first appear ("" for steps of
    /// no group, such as a duplicate publish).
    public static func groups(of event: Event) -> [String] {
        var groups: [String] = []
        for step in event.steps where !groups.contains(step.group) { groups.append(step.group) }
        return groups
    }

    /// `850 µs`, `12.3 ms`, `4.250 s`, `3 min 20 s`.
    public static func duration(microseconds: Int64) -> String {
        let value = max(0, microseconds)
        if value < 1000 { return "\(value) µs" }
        if value < 1_000_000 { return String(format: "%.1f ms", Double(value) / 1000) }
        if value < 120_000_000 { return String(format: "%.3f s", Double(value) / 1_000_000) }
        return "\(value / 60_000_000) min \(value / 1_000_000 % 60) s"
    }
}

extension EventTrace.Step {
    /// What happened, in a few words: "delivered to email-1 (attempt 2)", "failed in email-1: …".
    public var summary: String {
        switch kind {
        case .duplicate: "duplicate publish by \(actor), confirmed as this event"
        case .delivered: "delivered to \(actor) (attempt \(attempt))"
        case .acked: "acked by \(actor)"
        case .nacked: "failed in \(actor): \(detail)"
        case .released: "released by \(actor)"
        case .ackTimeout: "not acked by \(actor): \(detail)"
        case .memberLost: "lost with \(actor): \(detail)"
        case .retryScheduled:
            "retry scheduled: attempt \(attempt)"
                + (delayMilliseconds.map { " in \(EventTrace.duration(microseconds: Int64($0) * 1000))" } ?? "")
        case .deadLettered: "dead-lettered after \(attempt) attempt\(attempt == 1 ? "" : "s"): \(detail)"
        case .requeued: "requeued from the dead-letter queue by \(actor)"
        case .replayed: "replayed (cursor moved back) by \(actor)"
        case .unknown: detail
        }
    }

    /// Whether the step is a failure (shown as such in timelines).
    public var isFailure: Bool { [.nacked, .ackTimeout, .memberLost, .deadLettered].contains(kind) }
}
