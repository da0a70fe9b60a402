import FerryProtocol
import FerryRuntime
import FerryStorage
import Logging
import Metrics

extension Broker {
    /// How long until the earliest due retry of a group with members needs a pass (at most
    /// ``idleWakeup``).
    var retryWakeup: Nanoseconds {
        var wait = Self.idleWakeup
        for group in groups.values where !group.members.isEmpty {
            guard let due = group.retries.first?.due else { continue }
            if due > now {
                wait = min(wait, due - now)
            } else if isShuttingDown || (due <= lastDispatch && lastHousekeeping <= lastDispatch) {
                // Due when dispatch last ran, and still queued: no member had credit for it (or
                // nothing is dispatched any more). Credit comes back with a message, which ends
                // the wait, or with an ack timeout, which the next housekeeping pass finds (a
                // pass that ran after the dispatch may have freed some already: no wait then).
                wait = min(wait, Self.housekeepingInterval)
            } else {
                return .zero
            }
        }
        return wait
    }

    /// How often the periodic part of ``housekeep()`` runs.
    static let housekeepingInterval = Nanoseconds.milliseconds(50)

    /// Timers: ack timeouts, dead peers, heartbeats, cursor commits and store release.
    /// Cheap to call every loop iteration; the periodic parts run every 50 ms.
    func housekeep() {
        forgiveStall()
        guard now - lastHousekeeping >= Self.housekeepingInterval else { return }
        lastHousekeeping = now
        expireDeliveries()
        expirePeers()
        sendHeartbeats()
        releaseSettled()
        dedup.expire(now: now)
        metrics.inFlight.record(inFlightCount)
        metrics.storedBytes.record(log.storedBytes)
        for duration in log.takeSyncDurations() { metrics.fsyncDuration.recordNanoseconds(Self.nanoseconds(duration)) }
        reportHealth()
        recordTraceMetrics()
        if now - lastGroupMetrics >= Self.groupMetricsInterval {
            lastGroupMetrics = now
            recordGroupMetrics()
        }
    }

    /// How often the per-group gauges are brought up to date (a scrape every few seconds is the norm).
    static let groupMetricsInterval = Nanoseconds.milliseconds(1000)

    /// Members, in flight, retries, dead letters and lag per topic of every durable group, and
    /// each topic's stored bytes, as gauges.
    private func recordGroupMetrics() {
        for group in groups.values where !group.ephemeral {
            let gauges = metrics.gauges(ofGroup: group.name)
            gauges.members.record(group.members.count)
            gauges.inFlight.record(group.inFlight)
            gauges.retries.record(group.retries.count)
            gauges.deadLetters.record(groupState.deadLetterCount(group: group.name))
            for cursor in group.cursors.values {
                let end = log.bounds(topic: cursor.topic).upperBound
                metrics.lagGauge(gauges, group: group.name, topic: cursor.topic).record(end - min(cursor.next, end))
            }
        }
        for topic in log.topics { metrics.storedBytesGauge(topic: topic).record(log.storedBytes(topic: topic)) }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// A publish refused for the store within this long makes the broker unready.
    static let storageRefusalMemory = Nanoseconds.milliseconds(5000)

    /// Hands the loop's health to the probes' snapshot.
    private func reportHealth() {
        let problem = lastStorageRefusal.flatMap { now - $0.at < Self.storageRefusalMemory ? $0.reason : nil }
        let stopping = isShuttingDown
        metrics.ready.record(problem == nil && !stopping ? 1 : 0)
        guard let health else { return }
        health.update { snapshot in
            snapshot.storageProblem = problem
            snapshot.shuttingDown = stopping
        }
    }

    /// The loop wakes at least every 100 ms; a longer gap means ferryd itself was not running
    /// (stopped, swapped out, its VM paused). Peers' messages from that time may still sit in
    /// ZeroMQ's queues, unread, so the gap does not count as their silence: otherwise every
    /// session would be ended on the first pass after the stall, before its heartbeats are read.
    private func forgiveStall() {
        defer { lastLoopIteration = now }
        guard let last = lastLoopIteration else { return }
        let gap = now - last
        guard gap > Self.stallThreshold else { return }
        for peer in peers.values { peer.lastSeen = min(now, peer.lastSeen + gap) }
        metrics.loopStalls.increment()
        logger.warning(
            "the broker loop did not run for a while; peers' silence during it is not held against them",
            metadata: ["milliseconds": "\(gap.wholeMilliseconds)"])
    }

    /// A gap between loop iterations this long is a stall of ferryd (the poll timeout is 100 ms).
    static let stallThreshold = Nanoseconds.milliseconds(250)

    private func expireDeliveries() {
        for peer in peers.values {
            let expired = peer.inFlight.entries.filter { $0.value.deadline <= now }
            for (deliveryID, delivery) in expired.sorted(by: { $0.value.offset < $1.value.offset }) {
                peer.inFlight.removeValue(forKey: deliveryID)
                metrics.ackTimeouts.increment()
                let error = "not acknowledged within \(delivery.member.group.policy.ackTimeoutMilliseconds) ms"
                traceOutcome(.ackTimeout, of: delivery, detail: error)
                fail(delivery, error: error, delayMilliseconds: nil, poison: false)
                settled(delivery.member)
            }
        }
    }

    private func expirePeers() {
        let timeout = Nanoseconds.milliseconds(configuration.peerTimeoutMilliseconds)
        for peer in peers.values where now - peer.lastSeen > timeout {
            metrics.peersExpired.increment()
            logger.warning(
                "peer went silent; redelivering its in-flight events", metadata: ["peer": "\(peer.id)", "client": "\(peer.name)"])
            removePeer(peer, reason: "silent for \(configuration.peerTimeoutMilliseconds) ms")
        }
    }

    /// The socket no longer knows `id`'s connection: the peer is gone, whatever its timeout.
    func peerDisconnected(_ id: PeerID) {
        guard let peer = peers[id] else { return }
        metrics.peersDisconnected.increment()
        logger.info("peer disconnected; redelivering its in-flight events", metadata: ["peer": "\(peer.id)", "client": "\(peer.name)"])
        removePeer(peer, reason: "disconnected")
    }

    private func sendHeartbeats() {
        let interval = Nanoseconds.milliseconds(configuration.heartbeatIntervalMilliseconds)
        for peer in peers.values where peer.isSession && now - peer.lastSent >= interval {
            var heartbeat = Heartbeat()
            heartbeat.brokerID = brokerID
            reply(to: peer, requestID: 0, .heartbeat(heartbeat))
        }
    }

    /// Lets the store free (memory budget) or expire (retention) what every group settled.
    private func releaseSettled() {
        var settled: [String: UInt64] = [:]
        for group in groups.values {
            for cursor in group.cursors.values {
                settled[cursor.topic] = min(settled[cursor.topic] ?? .max, cursor.settledBelow)
            }
        }
        for (topic, offset) in settled { log.release(topic: topic, below: offset) }
        if now - lastRetention >= Self.retentionInterval {
            lastRetention = now
            let dropped = log.applyRetention(consumedBelow: settled)
            if dropped > 0 {
                metrics.retentionDropped.increment(by: Int(dropped))
                logger.warning("retention dropped events some groups had not consumed", metadata: ["events": "\(dropped)"])
            }
        }
    }

    /// How often retention is applied.
    static let retentionInterval = Nanoseconds.seconds(10)
}
