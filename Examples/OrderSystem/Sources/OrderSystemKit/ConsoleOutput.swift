public import Foundation

/// What the workers' inspection subcommands (`list`, `show`, `report`) print.
public enum ConsoleOutput {
    /// Prints `value` as pretty JSON with snake_case, sorted keys, for scripts and tests.
    public static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// An instant as ISO 8601 in UTC with milliseconds, e.g. `2026-11-27T12:00:00.000Z`:
    /// how the workers store times, so they sort as text.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }
}
