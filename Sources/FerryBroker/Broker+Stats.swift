public import FerryProtocol
import FerryStorage
import Logging
import Metrics

extension Broker {
    /// The Prometheus text the Stats reply carries; set by whoever owns the metrics registry.
    func handleStats(from peer: Peer, requestID: UInt64) {
        reply(to: peer, requestID: requestID, .stats(stats()))
    }

    /// Counts the damage recovery found in each topic's log, once, when the broker starts.
    func countStorageDamage() {
        for topic in log.topics.sorted() {
            let damage = log.damage(topic: topic)
            guard !damage.isEmpty else { continue }
            let dimensions = [("topic", topic)]
            Counter(label: "ferry_storage_corrupt_regions_total", dimensions: dimensions).increment(by: damage.corruptRegions)
            Counter(label: "ferry_storage_lost_events_total", dimensions: dimensions).increment(by: damage.lostEvents)
            Counter(label: "ferry_storage_skipped_bytes_total", dimensions: dimensions).increment(by: damage.skippedBytes)
            Counter(label: "ferry_storage_truncated_bytes_total", dimensions: dimensions).increment(by: damage.truncatedBytes)
            logger.log(
                level: damage.corruptRegions > 0 ? .error : .warning,
                damage.corruptRegions > 0
                    ? "the log of a topic was damaged in place; the events of its corrupt regions are lost"
                    : "a torn tail (a write cut short by a crash) was cut off a topic's log",
                metadata: [
                    "topic": "\(topic)", "corruptRegions": "\(damage.corruptRegions)", "lostEvents": "\(damage.lostEvents)",
                    "skippedBytes": "\(damage.skippedBytes)", "truncatedBytes": "\(damage.truncatedBytes)",
                ])
        }
    }

    /// A snapshot of groups, topics and totals.
    public func stats() -> Stats {
        var stats = Stats()
        let schedule = scheduler?.summary
        for group in groups.values.sorted(by: { $0.name < $1.name }) {
            var entry = GroupStats()
            entry.name = group.name
            entry.members = UInt32(group.members.count)
            entry.inFlight = UInt64(group.inFlight)
            entry.pendingRetries = UInt64(group.retries.count)
            entry.deadLetters = UInt64(groupState.deadLetterCount(group: group.name))
            for cursor in group.cursors.values.sorted(by: { $0.topic < $1.topic }) {
                var topic = TopicLag()
                topic.topic = cursor.topic
                topic.end = log.bounds(topic: cursor.topic).upperBound
                topic.position = min(cursor.next, topic.end)
                topic.lag = topic.end - topic.position
                entry.topics.append(topic)
                entry.lag += topic.lag
            }
            // Everything the group follows (and holds lag for), not only what current members asked.
            entry.patterns = group.patterns.map(\.description).sorted()
            entry.delivered = group.counters.delivered
            entry.acked = group.counters.acked
            entry.nacked = group.counters.nacked
            entry.redelivered = group.counters.redelivered
            entry.deadLettered = group.counters.deadLettered
            entry.ephemeral = group.ephemeral
            for (topic, count) in schedule?.byTopic ?? [:] where group.matches(topic) { entry.scheduled += UInt64(count) }
            stats.groups.append(entry)
        }
        for topic in knownTopics.union(schedule?.byTopic.keys ?? [:].keys).sorted() {
            var entry = TopicStats()
            entry.scheduled = UInt64(schedule?.byTopic[topic] ?? 0)
            entry.name = topic
            let bounds = log.bounds(topic: topic)
            entry.firstOffset = bounds.lowerBound
            entry.nextOffset = bounds.upperBound
            let damage = log.damage(topic: topic)
            entry.corruptRegions = UInt64(damage.corruptRegions)
            entry.lostEvents = UInt64(damage.lostEvents)
            entry.skippedBytes = UInt64(damage.skippedBytes)
            entry.truncatedBytes = UInt64(damage.truncatedBytes)
            stats.topics.append(entry)
        }
        stats.storedBytes = UInt64(log.storedBytes)
        stats.connections = UInt32(peers.count)
        stats.scheduledEvents = UInt64(schedule?.events ?? 0)
        stats.nextScheduledDueUs = UInt64(schedule?.nextDueMicros ?? 0)
        stats.prometheusText = metricsText?() ?? ""
        return stats
    }
}
