import FerryProtocol
import FerryRuntime
import FerryStorage
import Foundation
import Logging
import Metrics

/// Group state: definitions, cursors and retries saved every few milliseconds (with the dead
/// letters gathered meanwhile), and restored when the broker starts.
extension Broker {
    /// Saves what changed in groups, cursors and retries, and writes the dead letters gathered
    /// since the last save. Called every few milliseconds from the loop. The store takes the
    /// changes even when it reports a failure, and retries the failed save itself, in order:
    /// giving them again would replay old retry changes after newer rows (a requeue's).
    func persistGroupState() {
        // The changes made so far go to the store before the dead letters: a dead letter that
        // removes a requeued retry's row must not be followed by a change that adds it back.
        // The dead letters' own changes (their settled offsets) follow at once.
        saveGroupChanges()
        if writeDeadLetters() { saveGroupChanges() }
        // Counted by the store, which also sees the failures of its own retries.
        let failures = groupState.saveFailures
        if failures > countedSaveFailures {
            metrics.stateSaveFailures.increment(by: failures - countedSaveFailures)
            countedSaveFailures = failures
        }
    }

    private func saveGroupChanges() {
        // Ephemeral groups live in memory only.
        for group in groups.values where !group.ephemeral {
            if group.definitionChanged {
                pendingChanges.groups.append(
                    GroupDefinition(
                        name: group.name, patterns: group.patterns.map(\.description), policy: Self.encode(group.policy),
                        startAtLatest: group.startAtLatest))
            }
            for cursor in group.cursors.values where cursor.dirty {
                pendingChanges.cursors.append(
                    CursorState(
                        group: group.name, topic: cursor.topic, next: cursor.next,
                        inFlight: cursor.outstanding.entries.map { PendingOffset(offset: $0.key, attempt: $0.value) }))
            }
        }
        guard !pendingChanges.isEmpty else { return }
        do {
            try groupState.save(pendingChanges)
        } catch {
            logger.error("saving group state failed; the store retries it", metadata: ["error": "\(error)"])
        }
        pendingChanges = GroupStateChanges()
        for group in groups.values {
            group.definitionChanged = false
            for cursor in group.cursors.values { cursor.dirty = false }
        }
    }

    /// Brings back groups, cursors, retries and the dedup window from the stores.
    func restoreGroupState() {
        let snapshot: GroupStateSnapshot
        do {
            snapshot = try groupState.load()
        } catch {
            logger.critical("loading group state failed; groups start empty", metadata: ["error": "\(error)"])
            return
        }
        for definition in snapshot.groups { restoreGroup(definition) }
        var deadLetters = DeadLetterCheck()
        let retried = restoreRetries(snapshot.retries, deadLetters: &deadLetters)
        var redelivered = 0
        for state in snapshot.cursors { redelivered += restoreCursor(state, retried: retried, deadLetters: &deadLetters) }
        // A topic created just before a crash may have no saved cursor yet: its groups follow it
        // from its beginning, as they did when it was created.
        for topic in log.topics.sorted() { attachNewTopic(topic) }
        let window = Duration.milliseconds(configuration.dedupWindowMilliseconds)
        for entry in log.recentEventIDs(storedSince: wallNow - window.wholeMicroseconds, limit: configuration.dedupMaxEntries) {
            dedup.remember(DedupKey(topic: entry.topic, id: entry.id), offset: entry.offset, now: now)
        }
        rememberOverdueScheduledEvents()
        if !snapshot.groups.isEmpty {
            logger.info(
                "restored consumer groups",
                metadata: [
                    "groups": "\(snapshot.groups.count)", "retries": "\(snapshot.retries.count)", "redelivering": "\(redelivered)",
                    "dedupIDs": "\(dedup.count)",
                ])
        }
    }

    private func restoreGroup(_ definition: GroupDefinition) {
        let policy = (try? JSONDecoder().decode(RetryPolicy.self, from: Data(definition.policy.utf8))) ?? configuration.defaultRetryPolicy
        let group = ConsumerGroup(name: definition.name, policy: policy, startAtLatest: definition.startAtLatest)
        for pattern in definition.patterns { if let parsed = try? TopicPattern(pattern) { group.follow(parsed) } }
        group.definitionChanged = false
        groups[definition.name] = group
    }

    /// An event dead-lettered after its cursor or retry was last saved is settled, not
    /// redelivered: the dead-letter queue is written before the dead-lettering is confirmed.
    /// Each group's and topic's dead-lettered offsets are read once.
    struct DeadLetterCheck {
        private var offsets: [String: Set<UInt64>] = [:]

        /// Whether `group`'s dead-letter queue holds the event at `offset` of `topic`: `body`
        /// (a requeued retry's own copy), or else what the log holds there.
        mutating func contains(
            _ group: String, _ topic: String, _ offset: UInt64, body: [UInt8]? = nil, in broker: Broker
        ) -> Bool {
            let cacheKey = group + "\u{0}" + topic
            if offsets[cacheKey] == nil { offsets[cacheKey] = broker.groupState.deadLetteredOffsets(group: group, topic: topic) }
            guard offsets[cacheKey]!.contains(offset) else { return false }
            // An entry from before the log lost its tail (see `restoreCursor`) names an event that
            // is gone; the offset now holds another. What is compared is the event itself: a
            // requeued retry's own copy, else the log's (unreadable or dropped: nothing to redeliver).
            guard let event = body ?? (try? broker.storedBody(topic: topic, offset: offset)) else { return true }
            return broker.groupState.deadLetterBodies(group: group, topic: topic, offset: offset).contains(event)
        }
    }

    /// Queues the saved retries again, due when they were; returns the ids restored.
    private func restoreRetries(_ retries: [RetryState], deadLetters: inout DeadLetterCheck) -> Set<RetryID> {
        var retried = Set<RetryID>()
        for retry in retries {
            guard let group = groups[retry.group] else { continue }
            // Dead-lettered after this row was saved (a requeued event failing again, its row's
            // removal not yet saved): the dead-letter queue has it.
            if deadLetters.contains(retry.group, retry.topic, retry.offset, body: retry.body, in: self) {
                pendingChanges.removeRetry(retry.id)
                continue
            }
            if retry.body == nil && retry.offset >= log.bounds(topic: retry.topic).upperBound {
                // Past the recovered log's end (see `restoreCursor`): the offset will name another event.
                pendingChanges.removeRetry(retry.id)
                continue
            }
            let wait = max(0, retry.dueMicros - wallNow)
            group.retries.push(
                RetryEntry(
                    due: now + Nanoseconds.microseconds(wait), topic: retry.topic, offset: retry.offset, key: retry.key,
                    attempt: retry.attempt,
                    body: retry.body, lastError: retry.lastError, origin: retry.origin))
            retried.insert(retry.id)
        }
        return retried
    }

    /// Restores one saved cursor; what was in flight when the broker stopped (and has no retry
    /// of its own) is delivered again, counting the attempt it had. Returns how many.
    private func restoreCursor(_ state: CursorState, retried: Set<RetryID>, deadLetters: inout DeadLetterCheck) -> Int {
        guard let group = groups[state.group] else { return 0 }
        // A log can end before a saved cursor: `never` events lost with the OS, or a torn record
        // cut off. New events will take those offsets again, so the cursor goes back to the end,
        // or the group would never see them.
        let end = log.bounds(topic: state.topic).upperBound
        if state.next > end {
            logger.warning(
                "a saved cursor was past the end of its recovered log; it restarts at the end",
                metadata: ["group": "\(state.group)", "topic": "\(state.topic)", "cursor": "\(state.next)", "end": "\(end)"])
        }
        let cursor = TopicCursor(topic: state.topic, start: min(state.next, end))
        group.cursors[state.topic] = cursor
        var settledSinceSave = state.next > end
        var redelivered = 0
        for pending in state.inFlight {
            if pending.offset >= end || deadLetters.contains(state.group, state.topic, pending.offset, in: self) {
                settledSinceSave = true
                continue
            }
            cursor.track(pending.offset, attempt: pending.attempt)
            guard !retried.contains(RetryID(group: state.group, topic: state.topic, offset: pending.offset, origin: .cursor)) else {
                continue
            }
            let key = (try? log.read(topic: state.topic, from: pending.offset, limit: 1).first?.key) ?? ""
            schedule(
                RetryEntry(
                    due: now, topic: state.topic, offset: pending.offset, key: key, attempt: pending.attempt + 1, body: nil,
                    lastError: "in flight when the broker stopped", origin: .cursor), in: group)
            redelivered += 1
        }
        cursor.dirty = settledSinceSave
        return redelivered
    }

    static func encode(_ policy: RetryPolicy) -> String {
        (try? String(decoding: JSONEncoder().encode(policy), as: UTF8.self)) ?? "{}"
    }

    /// Scheduled events already due when the broker started may have been appended just before
    /// a crash, however long ago, and not yet removed from the schedule: their ids are looked up
    /// in their topics' logs back to their due times (an append comes at or after it), so that
    /// handing them over again appends none twice. Only those ids join the window.
    private func rememberOverdueScheduledEvents() {
        guard configuration.dedupWindowMilliseconds > 0, let overdue = scheduler?.overdueAtOpen, !overdue.isEmpty else { return }
        var wanted: [String: (since: Int64, ids: Set<String>)] = [:]
        for event in overdue {
            var entry = wanted[event.topic] ?? (event.dueMicros, [])
            entry.since = min(entry.since, event.dueMicros)
            entry.ids.insert(event.id)
            wanted[event.topic] = entry
        }
        for (topic, entry) in wanted {
            for stored in log.recentEventIDs(topic: topic, storedSince: entry.since, limit: configuration.dedupMaxEntries)
            where entry.ids.contains(stored.id) {
                let key = DedupKey(topic: topic, id: stored.id)
                if dedup.offset(for: key) == nil { dedup.remember(key, offset: stored.offset, now: now) }
            }
        }
    }
}
