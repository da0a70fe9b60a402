/// Whether the events a topic holds still decode with this build's event types and upcasters:
/// what to run before a change to an event type ships (see `docs/event-versioning.md`).
///
/// ```swift
/// let report = try await SchemaCheck.run(topic: "OrderCreated", on: bus, types: [OrderCreated.self], upcasters: upcasters)
/// if !report.passed { print(report) }
/// ```
/// It reads the topic from its oldest stored event to the last one stored when it started,
/// through an ephemeral group (nothing is left behind, no other group is touched), and decodes
/// each event as the handler of its type would: upcast from its version, then decoded.
public enum SchemaCheck {
    /// An event that would fail its handler.
    public struct Failure: Sendable, CustomStringConvertible {
        public let topic: String
        public let offset: UInt64
        public let eventID: String
        public let typeName: String
        public let schemaVersion: UInt32
        public let message: String

        public var description: String { "\(topic)@\(offset) \(eventID) (\(typeName) version \(schemaVersion)): \(message)" }
    }

    /// What a check found.
    public struct Report: Sendable, CustomStringConvertible {
        public let topic: String
        /// Events read.
        public internal(set) var checked = 0
        /// Per type name, how many events of each schema version the topic holds.
        public internal(set) var versions: [String: [UInt32: Int]] = [:]
        /// Events of a type none of the given types is (a handler group has no handler for them).
        public internal(set) var unknownTypes: [String: Int] = [:]
        /// The events that do not decode (at most `maxFailures` of them are kept).
        public internal(set) var failures: [Failure] = []
        public internal(set) var failureCount = 0

        /// No event fails.
        public var passed: Bool { failureCount == 0 }

        public var description: String {
            let counts = versions.sorted { $0.key < $1.key }.map { type, byVersion in
                "\(type) " + byVersion.sorted { $0.key < $1.key }.map { "v\($0.key): \($0.value)" }.joined(separator: ", ")
            }
            var lines = ["\(topic): \(checked) events (\(counts.joined(separator: "; ")))"]
            if !unknownTypes.isEmpty {
                lines.append("  of no known type: " + unknownTypes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
            lines.append(passed ? "  every event decodes" : "  \(failureCount) events fail:")
            lines += failures.map { "  - \($0)" }
            return lines.joined(separator: "\n")
        }
    }

    /// Checks every event `topic` holds against `types` (by type name) and `upcasters`. Gives up
    /// with ``FerryError/Code/timeout`` when the topic is not read within `timeout`.
    public static func run(
        topic: String, on bus: EventBus, types: [any EventRepresentable.Type], upcasters: Upcasters, maxFailures: Int = 100,
        timeout: Duration = .seconds(60)
    ) async throws(FerryError) -> Report {
        var report = Report(topic: topic)
        guard let summary = try await bus.stats().topics.first(where: { $0.name == topic }), summary.eventCount > 0 else { return report }
        let end = summary.nextOffset
        let byName = Dictionary(types.map { ($0.typeName, $0) }, uniquingKeysWith: { first, _ in first })
        let tail = try await bus.tail([topic], from: .earliest)
        let timer = Task {
            try? await Task.sleep(for: timeout)
            await tail.close()
        }
        defer { timer.cancel() }
        var last: UInt64?
        for await item in tail {
            if item.offset >= end { break }
            let event = ReceivedEvent(wire: item.event.wire, upcasters: upcasters)
            report.checked += 1
            report.versions[event.typeName, default: [:]][event.schemaVersion, default: 0] += 1
            if let type = byName[event.typeName] {
                do {
                    try decode(event, as: type)
                } catch {
                    report.failureCount += 1
                    if report.failures.count < maxFailures {
                        report.failures.append(
                            Failure(
                                topic: topic, offset: item.offset, eventID: event.id, typeName: event.typeName,
                                schemaVersion: event.schemaVersion, message: error.message))
                    }
                }
            } else {
                report.unknownTypes[event.typeName.isEmpty ? "(untyped)" : event.typeName, default: 0] += 1
            }
            last = item.offset
            if item.offset + 1 >= end { break }
        }
        await tail.close()
        if last.map({ $0 + 1 < end }) ?? true {
            throw FerryError(.timeout, "\(topic) was not read to its end (offset \(end - 1)) within \(timeout): \(report.checked) events checked")
        }
        return report
    }

    private static func decode<E: EventRepresentable>(_ event: ReceivedEvent, as type: E.Type) throws(FerryError) {
        _ = try event.decode(E.self)
    }
}
