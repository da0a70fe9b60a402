import FerryProtocol
import FerryRuntime
import FerryStorage
import Logging
import Metrics
import SwiftProtobuf

/// Dead letters: an event given up on (poison, or out of attempts), written in one synced step
/// per save interval, and the commands that list, requeue and purge a group's queue.
extension Broker {
    func deadLetter(_ delivery: InFlightDelivery, in group: ConsumerGroup, cause: DeadLetterCause, error: String) {
        if group.ephemeral {
            // An ephemeral group has no dead-letter queue: the event is dropped for this group.
            if delivery.origin == .cursor { group.cursors[delivery.topic]?.settle(delivery.offset) }
            metrics.ephemeralDropped.increment()
            group.counters.deadLettered += 1
            tracer?.record(
                TraceRecord(
                    kind: .deadLettered, timeMicros: wallNow, topic: delivery.topic, offset: delivery.offset, group: group.name,
                    attempt: delivery.attempt, detail: "dropped (an ephemeral group has no dead-letter queue): \(error)"))
            logger.warning(
                "event dropped by an ephemeral group",
                metadata: ["group": "\(group.name)", "topic": "\(delivery.topic)", "offset": "\(delivery.offset)", "error": "\(error)"])
            return
        }
        // Written with the others of this save interval (``writeDeadLetters()``): meanwhile its
        // cursor still holds the offset, so a crash redelivers it.
        pendingDeadLetters.append(
            PendingDeadLetter(
                delivery: delivery, group: group,
                record: DeadLetterRecord(
                    id: 0, group: group.name, topic: delivery.topic, offset: delivery.offset, cause: cause, attempts: delivery.attempt,
                    lastError: error, deadLetteredAtMicros: wallNow, body: delivery.body)))
    }

    /// How long a dead letter the store refused waits before it is tried again.
    static let deadLetterRetryDelay = Nanoseconds.seconds(5)

    /// Writes the dead letters gathered since the last save in one synced step, then settles
    /// their offsets. If the store refuses, each is tried again in 5 s rather than lost.
    /// Returns whether there were any (group state then changed again).
    func writeDeadLetters() -> Bool {
        guard !pendingDeadLetters.isEmpty else { return false }
        let batch = pendingDeadLetters
        pendingDeadLetters.removeAll()
        do {
            // A requeued delivery failing again: its retry row goes in the same step.
            try groupState.addDeadLetters(
                batch.map { ($0.record, $0.delivery.origin == .cursor ? nil : Self.requeuedRetryID(of: $0.delivery, in: $0.group)) })
        } catch let storageError {
            logger.error("dead-lettering failed; will retry", metadata: ["events": "\(batch.count)", "error": "\(storageError)"])
            for entry in batch {
                let delivery = entry.delivery
                tracer?.record(
                    TraceRecord(
                        kind: .retryScheduled, timeMicros: wallNow, topic: delivery.topic, offset: delivery.offset, group: entry.group.name,
                        attempt: delivery.attempt, number: wallNow + Int64(Self.deadLetterRetryDelay.wholeMicroseconds),
                        detail: "the dead-letter queue could not be written: \(storageError.message)"))
                schedule(
                    RetryEntry(
                        due: now + Self.deadLetterRetryDelay, topic: delivery.topic, offset: delivery.offset, key: delivery.key,
                        attempt: delivery.attempt, body: delivery.retryBody, lastError: entry.record.lastError,
                        origin: delivery.origin), in: entry.group)
            }
            return true
        }
        for entry in batch {
            let delivery = entry.delivery
            let group = entry.group
            if delivery.origin == .cursor {
                group.cursors[delivery.topic]?.settle(delivery.offset)
            } else {
                forgetRequeuedRetry(delivery, in: group)
            }
            metrics.deadLettered.increment()
            group.counters.deadLettered += 1
            tracer?.record(
                TraceRecord(
                    kind: .deadLettered, timeMicros: wallNow, topic: delivery.topic, offset: delivery.offset, group: group.name,
                    attempt: delivery.attempt,
                    detail: "\(entry.record.cause == .rejected ? "rejected by the handler" : "out of attempts"): \(entry.record.lastError)"))
            logger.warning(
                "event dead-lettered",
                metadata: [
                    "group": "\(group.name)", "topic": "\(delivery.topic)", "offset": "\(delivery.offset)",
                    "attempts": "\(delivery.attempt)", "cause": "\(entry.record.cause)", "error": "\(entry.record.lastError)",
                ])
        }
        return true
    }

    /// A requeued dead letter's delivery is saved only as its retry's row, kept while it is in
    /// flight (see `dispatchRetries`); it goes once the delivery is acked or dead-lettered again.
    func forgetRequeuedRetry(_ delivery: InFlightDelivery, in group: ConsumerGroup) {
        guard !group.ephemeral else { return }
        pendingChanges.removeRetry(Self.requeuedRetryID(of: delivery, in: group))
    }

    private static func requeuedRetryID(of delivery: InFlightDelivery, in group: ConsumerGroup) -> RetryID {
        RetryID(group: group.name, topic: delivery.topic, offset: delivery.offset, origin: .requeuedDeadLetter)
    }

    func handleDeadLetterList(_ list: DeadLetterList, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        try requireGroup(list.group)
        let limit = list.limit == 0 ? 100 : min(Int(list.limit), 1000)
        var entries = DeadLetterEntries()
        entries.entries = groupState.deadLetters(group: list.group, after: list.afterID, limit: limit).map(\.wire)
        entries.total = UInt64(groupState.deadLetterCount(group: list.group))
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
            let ids =
                requeue.all ? groupState.deadLetterIDs(group: requeue.group, limit: configuration.limits.maxIDsPerCommand) : requeue.ids
            requeued = try groupState.requeueDeadLetters(group: requeue.group, ids: ids) { record in
                RetryState(
                    group: record.group, topic: record.topic, offset: record.offset, origin: .requeuedDeadLetter, attempt: 1,
                    dueMicros: wallNow, lastError: record.lastError, key: Self.key(of: record), body: record.body)
            }
        } catch {
            throw ProtocolError(.storageFailure, error.message)
        }
        for record in requeued {
            group.retries.push(
                RetryEntry(
                    due: now, topic: record.topic, offset: record.offset, key: Self.key(of: record), attempt: 1, body: record.body,
                    lastError: record.lastError, origin: .requeuedDeadLetter))
        }
        metrics.requeued.increment(by: requeued.count)
        if let tracer {
            let by = traceName(of: peer)
            for record in requeued {
                tracer.record(
                    TraceRecord(
                        kind: .requeued, timeMicros: wallNow, topic: record.topic, offset: record.offset, group: record.group, actor: by,
                        detail: "dead letter \(record.id)"))
            }
        }
        audit(
            "dead letters requeued", by: peer,
            ["group": "\(requeue.group)", "count": "\(requeued.count)", "ids": "\(requeue.all ? "all" : "\(requeue.ids.count) named")"])
        var count = DeadLetterCount()
        count.count = UInt64(requeued.count)
        count.remaining = UInt64(groupState.deadLetterCount(group: requeue.group))
        reply(to: peer, requestID: requestID, .deadLetterCount(count))
    }

    func handleDeadLetterPurge(_ purge: DeadLetterPurge, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        try requireGroup(purge.group)
        let removed = try removeDeadLetters(group: purge.group, ids: purge.ids, all: purge.all)
        audit(
            "dead letters purged", by: peer,
            ["group": "\(purge.group)", "count": "\(removed.count)", "ids": "\(purge.all ? "all" : "\(purge.ids.count) named")"])
        var count = DeadLetterCount()
        count.count = UInt64(removed.count)
        count.remaining = UInt64(groupState.deadLetterCount(group: purge.group))
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
            return try groupState.removeDeadLetters(
                group: group, ids: all ? groupState.deadLetterIDs(group: group, limit: configuration.limits.maxIDsPerCommand) : ids)
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

/// A dead letter waiting for ``Broker/writeDeadLetters()``.
struct PendingDeadLetter {
    let delivery: InFlightDelivery
    let group: ConsumerGroup
    let record: DeadLetterRecord
}
