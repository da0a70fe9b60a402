import FerryProtocol

extension Broker {
    /// The Prometheus text the Stats reply carries; set by whoever owns the metrics registry.
    func handleStats(from peer: Peer, requestID: UInt64) {
        reply(to: peer, requestID: requestID, .stats(stats()))
    }

    /// A snapshot of groups, topics and totals.
    public func stats() -> Stats {
        var stats = Stats()
        for group in groups.values.sorted(by: { $0.name < $1.name }) {
            var entry = GroupStats()
            entry.name = group.name
            entry.members = UInt32(group.members.count)
            entry.inFlight = UInt64(group.inFlight)
            entry.pendingRetries = UInt64(group.retries.count)
            entry.deadLetters = UInt64(store.deadLetterCount(group: group.name))
            for cursor in group.cursors.values.sorted(by: { $0.topic < $1.topic }) {
                var topic = TopicLag()
                topic.topic = cursor.topic
                topic.end = store.bounds(topic: cursor.topic).upperBound
                topic.position = min(cursor.next, topic.end)
                topic.lag = topic.end - topic.position
                entry.topics.append(topic)
                entry.lag += topic.lag
            }
            entry.patterns = Array(Set(group.members.flatMap { $0.patterns.map(\.description) })).sorted()
            entry.delivered = group.counters.delivered
            entry.acked = group.counters.acked
            entry.nacked = group.counters.nacked
            entry.redelivered = group.counters.redelivered
            entry.deadLettered = group.counters.deadLettered
            entry.ephemeral = group.ephemeral
            stats.groups.append(entry)
        }
        for topic in knownTopics.sorted() {
            var entry = TopicStats()
            entry.name = topic
            let bounds = store.bounds(topic: topic)
            entry.firstOffset = bounds.lowerBound
            entry.nextOffset = bounds.upperBound
            stats.topics.append(entry)
        }
        stats.storedBytes = UInt64(store.storedBytes)
        stats.connections = UInt32(peers.count)
        stats.prometheusText = metricsText?() ?? ""
        return stats
    }
}
