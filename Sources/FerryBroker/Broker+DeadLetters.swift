import FerryProtocol
import FerryStorage

extension Broker {
    func handleDeadLetterList(_ list: DeadLetterList, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        try requireGroup(list.group)
        let limit = list.limit == 0 ? 100 : min(Int(list.limit), 1000)
        var entries = DeadLetterEntries()
        entries.entries = store.deadLetters(group: list.group, after: list.afterID, limit: limit).map(\.wire)
        entries.total = UInt64(store.deadLetterCount(group: list.group))
        reply(to: peer, requestID: requestID, .deadLetterEntries(entries))
    }

    func handleDeadLetterRequeue(_ requeue: DeadLetterRequeue, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        let group = try requireGroup(requeue.group)
        if !requeue.all && requeue.ids.isEmpty { throw ProtocolError(.missingField, "name the dead-letter ids, or set all") }
        try configuration.limits.validateIDCount(requeue.ids.count)
        // Changes not yet saved go first: the store lands them before the requeue's rows, and
        // refuses the requeue while it cannot.
        persistGroupState()
        let requeued: [DeadLetterRecord]
        do {
            // Out of the dead-letter queue and into the saved retries in one transaction, so a
            // crash loses neither. Attempts start again at 1; the offset is already committed,
            // so the cursor ignores it.
            // `all`: the oldest entries, at most max_ids per command (the client repeats).
            let ids = requeue.all ? store.deadLetterIDs(group: requeue.group, limit: configuration.limits.maxIDsPerCommand) : requeue.ids
            requeued = try store.requeueDeadLetters(group: requeue.group, ids: ids) { record in
                RetryState(
                    group: record.group, topic: record.topic, offset: record.offset, tracksCursor: false, attempt: 1,
                    dueMicros: wallNow, lastError: record.lastError, key: Self.key(of: record), body: record.body)
            }
        } catch {
            throw ProtocolError(.storageFailure, error.message)
        }
        for record in requeued {
            group.retries.push(
                RetryEntry(
                    due: now, topic: record.topic, offset: record.offset, key: Self.key(of: record), attempt: 1, body: record.body,
                    lastError: record.lastError, tracksCursor: false))
        }
        logger.info("dead letters requeued", metadata: ["group": "\(requeue.group)", "count": "\(requeued.count)"])
        var count = DeadLetterCount()
        count.count = UInt64(requeued.count)
        count.remaining = UInt64(store.deadLetterCount(group: requeue.group))
        reply(to: peer, requestID: requestID, .deadLetterCount(count))
    }

    func handleDeadLetterPurge(_ purge: DeadLetterPurge, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        try requireGroup(purge.group)
        let removed = try removeDeadLetters(group: purge.group, ids: purge.ids, all: purge.all)
        logger.info("dead letters purged", metadata: ["group": "\(purge.group)", "count": "\(removed.count)"])
        var count = DeadLetterCount()
        count.count = UInt64(removed.count)
        count.remaining = UInt64(store.deadLetterCount(group: purge.group))
        reply(to: peer, requestID: requestID, .deadLetterCount(count))
    }

    @discardableResult
    private func requireGroup(_ name: String) throws(ProtocolError) -> ConsumerGroup {
        // No group has an empty name: UNKNOWN_GROUP, as for any name the broker does not hold.
        if name.isEmpty { throw ProtocolError(.unknownGroup, "no consumer group named '' (group is required)") }
        try configuration.limits.validateGroup(name)
        guard let group = groups[name] else { throw ProtocolError(.unknownGroup, "no consumer group named '\(name)'") }
        return group
    }

    private func removeDeadLetters(group: String, ids: [UInt64], all: Bool) throws(ProtocolError) -> [DeadLetterRecord] {
        if !all && ids.isEmpty { throw ProtocolError(.missingField, "name the dead-letter ids, or set all") }
        try configuration.limits.validateIDCount(ids.count)
        do {
            // `all`: the oldest entries, at most max_ids per command (the client repeats).
            return try store.removeDeadLetters(group: group, ids: all ? store.deadLetterIDs(group: group, limit: configuration.limits.maxIDsPerCommand) : ids)
        } catch {
            throw ProtocolError(.storageFailure, error.message)
        }
    }

    private static func key(of record: DeadLetterRecord) -> String {
        (try? WireEvent(serializedBytes: record.body))?.key ?? ""
    }
}

extension DeadLetterRecord {
    var wire: DeadLetter {
        var entry = DeadLetter()
        entry.id = id
        entry.group = group
        entry.offset = offset
        entry.event = (try? WireEvent(serializedBytes: body)) ?? WireEvent()
        entry.reason = cause == .rejected ? .rejected : .maxAttempts
        entry.attempts = attempts
        entry.lastError = lastError
        entry.deadLetteredAtUs = deadLetteredAtMicros
        return entry
    }
}
