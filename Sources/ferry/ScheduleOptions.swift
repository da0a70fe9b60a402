import ArgumentParser
import Ferry
import Foundation

/// `--at` and `--after` of `ferry publish`: when ferryd appends the events.
struct ScheduleOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Append the event at this time: ISO 8601 (2026-12-24T18:00:00Z) or UNIX seconds.", valueName: "time"))
    var at: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Append the event this long after ferryd reads it: 1500ms, 30s, 5m, 2h or 1d.", valueName: "duration"))
    var after: String?

    func validate() throws {
        if at != nil && after != nil { throw ValidationError("give --at or --after, not both") }
        _ = try schedule()
    }

    /// The schedule asked for; nil for at once.
    func schedule() throws -> PublishSchedule? {
        if let at {
            if let seconds = Double(at), seconds.isFinite, seconds > 0 { return .at(Date(timeIntervalSince1970: seconds)) }
            let formatter = ISO8601DateFormatter()
            if let date = formatter.date(from: at) { return .at(date) }
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = formatter.date(from: at) { return .at(date) }
            throw ValidationError("--at takes an ISO 8601 time with a zone (2026-12-24T18:00:00Z) or UNIX seconds; got '\(at)'")
        }
        if let after { return .after(try Self.duration(after)) }
        return nil
    }

    /// `1500ms`, `30s`, `5m`, `2h`, `1d` (a bare number is seconds).
    static func duration(_ text: String) throws -> Duration {
        let units: [(suffix: String, milliseconds: Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for unit in units where text.hasSuffix(unit.suffix) {
            if let value = Double(text.dropLast(unit.suffix.count)), value.isFinite, value >= 0 {
                return .milliseconds(Int64((value * unit.milliseconds).rounded(.up)))
            }
        }
        if let seconds = Double(text), seconds.isFinite, seconds >= 0 { return .milliseconds(Int64((seconds * 1000).rounded(.up))) }
        throw ValidationError("--after takes a duration such as 1500ms, 30s, 5m, 2h or 1d; got '\(text)'")
    }
}
