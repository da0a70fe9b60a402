import FerryProtocol

extension Broker {
    /// How long the server may sleep in poll before ``housekeep()`` has work, in milliseconds.
    public var pollTimeoutMilliseconds: Int {
        var timeout = 100
        for group in groups.values where !group.members.isEmpty {
            if let due = group.retries.first?.due {
                let wait = due > now ? Int((due - now) / 1_000_000) : 0
                timeout = min(timeout, wait)
            }
        }
        return max(timeout, 0)
    }

    /// Timers: ack timeouts, dead peers, heartbeats, cursor commits and store release.
    /// Cheap to call every loop iteration; the periodic parts run every 50 ms.
    public func housekeep() {
        now = Clock.nanoseconds()
        guard now &- lastHousekeeping >= 50_000_000 else { return }
        lastHousekeeping = now
        expireDeliveries()
        expirePeers()
        sendHeartbeats()
        commitCursors()
        dedup.expire(now: now)
        metrics.inFlight.record(inFlightCount)
        metrics.storedBytes.record(store.storedBytes)
    }

    private func expireDeliveries() {
        for peer in peers.values {
            let expired = peer.inFlight.filter { $0.value.deadline <= now }
            for (deliveryID, delivery) in expired.sorted(by: { $0.value.offset < $1.value.offset }) {
                peer.inFlight.removeValue(forKey: deliveryID)
                metrics.ackTimeouts.increment()
                fail(
                    delivery, error: "not acknowledged within \(delivery.member.group.policy.ackTimeoutMilliseconds) ms",
                    delayMilliseconds: nil, poison: false)
                settled(delivery.member)
            }
        }
    }

    private func expirePeers() {
        let timeout = UInt64(configuration.peerTimeoutMilliseconds) * 1_000_000
        for peer in peers.values where now &- peer.lastSeen > timeout {
            metrics.peersExpired.increment()
            logger.warning(
                "peer went silent; redelivering its in-flight events", metadata: ["peer": "\(peer.id)", "client": "\(peer.name)"])
            removePeer(peer, reason: "silent for \(configuration.peerTimeoutMilliseconds) ms")
        }
    }

    private func sendHeartbeats() {
        let interval = UInt64(configuration.heartbeatIntervalMilliseconds) * 1_000_000
        for peer in peers.values where peer.isSession && now &- peer.lastSent >= interval {
            reply(to: peer, requestID: 0, .heartbeat(Heartbeat()))
        }
    }

    /// Writes each group's settled-below cursor and lets the store free what every group settled.
    private func commitCursors() {
        var releasable: [String: UInt64] = [:]
        for group in groups.values {
            for cursor in group.cursors.values {
                let settled = cursor.settledBelow
                if settled != cursor.committed {
                    do {
                        try store.commitCursor(group: group.name, topic: cursor.topic, cursor: settled)
                        cursor.committed = settled
                    } catch {
                        logger.error("committing a cursor failed", metadata: ["group": "\(group.name)", "error": "\(error)"])
                    }
                }
                releasable[cursor.topic] = min(releasable[cursor.topic] ?? .max, cursor.committed)
            }
        }
        for (topic, offset) in releasable { store.release(topic: topic, below: offset) }
    }

    // MARK: - Shutdown

    /// Stops taking publishes and subscriptions and stops delivering; in-flight deliveries may still settle.
    public func beginShutdown() {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        logger.info("shutting down: no new publishes or deliveries", metadata: ["inFlight": "\(inFlightCount)"])
    }
}
