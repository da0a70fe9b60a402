import Ferry
import Foundation

/// A trace as a tree for the terminal: each event, its steps grouped by consumer group, then
/// the events it caused, indented under it. Times are relative to the first publish.
struct TraceRendering {
    let trace: EventTrace

    init(_ trace: EventTrace) {
        self.trace = trace
    }

    var text: String {
        let origin = trace.origin
        func relative(_ micros: Int64) -> String { "+" + EventTrace.duration(microseconds: micros - origin) }
        var lines: [String] = []
        for (event, depth) in trace.tree {
            let indent = String(repeating: "    ", count: depth)
            var head = "\(indent)\(depth == 0 ? "" : "└─ caused ")\(event.type.isEmpty ? "event" : event.type) \(event.id)"
            head += "  \(event.topic)@\(event.offset)"
            if !event.key.isEmpty { head += "  key \(event.key)" }
            head += "  published \(relative(event.publishedAtMicros))"
            if !event.publisher.isEmpty { head += " by \(event.publisher)" }
            lines.append(head)
            let body = indent + (depth == 0 ? "  " : "     ")
            for group in EventTrace.groups(of: event) {
                let label = group.isEmpty ? "" : "[\(group)] "
                for step in event.steps where step.group == group {
                    lines.append("\(body)\(label)\(relative(step.atMicros)) \(step.summary)")
                }
            }
            if event.stepsTruncated { lines.append(body + "… more steps were recorded") }
        }
        if trace.truncated { lines.append("… more events match: raise --max-events") }
        if trace.sampling != "all" { lines.append("(ferryd traces \(trace.sampling): events or steps may be missing)") }
        return lines.joined(separator: "\n") + "\n"
    }
}
