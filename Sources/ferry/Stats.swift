import ArgumentParser
import Ferry
import Foundation

/// `ferry stats`: topics, groups, stored bytes, connections, or the Prometheus metrics.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show the broker's topics, groups, stored bytes and connections.",
        discussion: """
            --prometheus prints ferryd's metrics in the Prometheus text format instead (published, \
            deliveries, acks, nacks, retries, dead letters, errors by code, stored bytes, peers, …).

            Examples:
              ferry stats
              ferry stats --prometheus | grep ferry_dead_lettered_total
            """)

    @OptionGroup var options: CLIOptions

    @Flag(name: .long, help: "Print the metrics in the Prometheus text exposition format (not with --json).")
    var prometheus = false

    func validate() throws {
        if prometheus && options.json { throw ValidationError("--prometheus prints text, not JSON: give --json or --prometheus") }
    }

    func run() async throws {
        let stats = try await options.withBus { bus in try await bus.stats() }
        if prometheus {
            Output.text(stats.prometheusText)
            return
        }
        if options.json {
            Output.json(
                [
                    "topics": stats.topics.map {
                        [
                            "name": $0.name, "first_offset": $0.firstOffset, "next_offset": $0.nextOffset, "events": $0.eventCount,
                            "corrupt_regions": $0.corruptRegions, "lost_events": $0.lostEvents, "skipped_bytes": $0.skippedBytes,
                            "truncated_bytes": $0.truncatedBytes, "scheduled": $0.scheduled,
                        ] as [String: Any]
                    },
                    "groups": stats.groups.map(GroupsCommand.dictionary), "stored_bytes": stats.storedBytes,
                    "connections": stats.connections, "scheduled_events": stats.scheduledEvents,
                ] as [String: Any])
            return
        }
        var topics = Table(["TOPIC", "FIRST", "NEXT", "EVENTS", "SCHEDULED", "LOST"], numeric: [1, 2, 3, 4, 5])
        for topic in stats.topics {
            topics.add(
                [
                    topic.name, "\(topic.firstOffset)", "\(topic.nextOffset)", "\(topic.eventCount)", "\(topic.scheduled)",
                    "\(topic.lostEvents)",
                ])
        }
        var groups = Table(["GROUP", "MEMBERS", "IN FLIGHT", "LAG", "RETRIES", "DLQ", "ACKED"], numeric: Set(1...6))
        for group in stats.groups {
            groups.add(
                [
                    group.ephemeral ? "~" + group.name : group.name, "\(group.members)", "\(group.inFlight)", "\(group.lag)",
                    "\(group.pendingRetries)", "\(group.deadLetters)", "\(group.acked)",
                ])
        }
        Output.line("stored:      \(Output.bytes(stats.storedBytes)) (\(stats.storedBytes) bytes)")
        Output.line("connections: \(stats.connections)")
        Output.line("topics:      \(stats.topics.count)")
        Output.line("groups:      \(stats.groups.count)")
        if stats.scheduledEvents > 0 {
            let next = stats.nextScheduledDue.map { ", next due \(Output.time($0))" } ?? ""
            Output.line("scheduled:   \(stats.scheduledEvents)\(next)")
        }
        if !stats.topics.isEmpty {
            Output.line()
            topics.print()
        }
        if !stats.groups.isEmpty {
            Output.line()
            groups.print()
        }
        // What recovery found damaged when ferryd started (its log has each region's offsets).
        let damaged = stats.topics.filter { $0.corruptRegions > 0 || $0.truncatedBytes > 0 }
        if !damaged.isEmpty { Output.line() }
        for topic in damaged {
            Output.line(
                "damaged:     \(topic.name): \(topic.corruptRegions) corrupt region(s) skipped, \(topic.lostEvents) event(s) lost, "
                    + "\(topic.skippedBytes) bytes skipped, \(topic.truncatedBytes) bytes of torn tail cut")
        }
    }
}
