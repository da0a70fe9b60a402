import Ferry
import Foundation

/// Which dead letters a listing, requeue or purge takes: by event type, a piece of the error
/// text, key, and when they were dead-lettered. Empty matches all.
struct DeadLetterFilter: Sendable, Equatable {
    var type: String?
    var errorContains: String?
    var key: String?
    var since: Date?
    var until: Date?

    var isEmpty: Bool { self == DeadLetterFilter() }

    func matches(_ entry: DeadLetterEntry) -> Bool {
        if let type, entry.event.typeName != type { return false }
        if let errorContains, !entry.lastError.localizedCaseInsensitiveContains(errorContains) { return false }
        if let key, entry.event.key != key { return false }
        if let since, entry.deadLetteredAt < since { return false }
        if let until, entry.deadLetteredAt >= until { return false }
        return true
    }

    /// From query or form fields `type`, `error`, `key`, `since`, `until` (ISO 8601, or
    /// seconds since 1970); empty values are ignored.
    init(fields: [String: String]) throws(APIError) {
        func value(_ name: String) throws(APIError) -> String? {
            guard let text = fields[name], !text.isEmpty else { return nil }
            guard text.utf8.count <= 1024 else { throw APIError.invalid("'\(name)' is longer than 1024 bytes") }
            return text
        }
        type = try value("type")
        errorContains = try value("error")
        key = try value("key")
        since = try value("since").map(Self.date(field: "since"))
        until = try value("until").map(Self.date(field: "until"))
    }

    init() {}

    static func date(field: String) -> (String) throws(APIError) -> Date {
        { text throws(APIError) in
            if let seconds = Double(text) { return Date(timeIntervalSince1970: seconds) }
            for style in [Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle()] {
                if let date = try? style.parse(text) { return date }
            }
            // A browser's datetime-local field: 2026-12-07T13:45 (UTC).
            if let date = try? Date.ISO8601FormatStyle().parse(text + ":00Z") { return date }
            throw APIError.invalid("'\(field)' must be ISO 8601 (2026-12-07T13:45:00Z) or seconds since 1970; got '\(text)'")
        }
    }

    /// The filter as query fields (for links that keep it).
    var fields: [String: String] {
        var fields: [String: String] = [:]
        fields["type"] = type
        fields["error"] = errorContains
        fields["key"] = key
        fields["since"] = since.map { Date.ISO8601FormatStyle().format($0) }
        fields["until"] = until.map { Date.ISO8601FormatStyle().format($0) }
        return fields
    }
}

/// A scan of a group's dead-letter queue through the protocol, page by page, bounded.
struct DeadLetterScan {
    /// The matching entries found (at most the limit asked for).
    var entries: [DeadLetterEntry] = []
    /// Where to continue (`after`), when the scan stopped before the end of the queue.
    var nextAfter: UInt64?

    /// Entries of `group` after id `after` that match `filter`: at most `limit`, examining at
    /// most `maxScan` entries.
    static func run(
        bus: EventBus, group: String, filter: DeadLetterFilter, after: UInt64, limit: Int, maxScan: Int = GatewayLimits.maxScan
    ) async throws(FerryError) -> DeadLetterScan {
        var scan = DeadLetterScan()
        var cursor = after
        var scanned = 0
        let page = 1000
        while true {
            let entries = try await bus.deadLetters(group: group, after: cursor, limit: page)
            for entry in entries {
                cursor = entry.id
                scanned += 1
                if filter.matches(entry) { scan.entries.append(entry) }
                if scan.entries.count >= limit || scanned >= maxScan {
                    scan.nextAfter = cursor
                    return scan
                }
            }
            if entries.count < page { return scan }
        }
    }
}
