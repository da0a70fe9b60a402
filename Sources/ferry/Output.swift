import Foundation

/// Writing to stdout, unbuffered, so `ferry tail | grep …` sees each line at once.
enum Output {
    static func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// Writes `text` as it is.
    static func text(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Prints `value` (dictionaries, arrays, strings, numbers, bools, NSNull) as JSON: indented,
    /// or on one line for JSON lines.
    static func json(_ value: Any, compact: Bool = false) {
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]
        if !compact { options.insert(.prettyPrinted) }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: options) else {
            line("null")
            return
        }
        line(String(decoding: data, as: UTF8.self))
    }

    /// A time as ISO 8601 in UTC with milliseconds, e.g. `2025-05-01T12:00:00.123Z`.
    static func time(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// `text` cut to `limit` characters, with an ellipsis when cut.
    static func truncate(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    /// Bytes in a human unit, e.g. `1.5 MiB`.
    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// A plain-text table: a header row and aligned columns, numbers right-aligned.
struct Table {
    let headers: [String]
    private(set) var rows: [[String]] = []
    /// Columns whose cells are right-aligned.
    let numeric: Set<Int>

    init(_ headers: [String], numeric: Set<Int> = []) {
        self.headers = headers
        self.numeric = numeric
    }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func format(_ row: [String]) -> String {
            var line = ""
            for (index, cell) in row.enumerated() {
                let isLast = index == row.count - 1
                let padding = String(repeating: " ", count: max(0, widths[index] - cell.count))
                if numeric.contains(index) {
                    line += padding + cell
                } else {
                    line += isLast ? cell : cell + padding
                }
                if !isLast { line += "  " }
            }
            return line
        }
        return ([format(headers)] + rows.map(format)).joined(separator: "\n")
    }

    func print() { Output.line(render()) }
}
