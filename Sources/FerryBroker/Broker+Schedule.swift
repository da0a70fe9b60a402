import FerryProtocol
import FerryRuntime
import FerryStorage
import Logging
import Metrics

/// Due events appended to their topics, waiting for their fsync before the scheduler forgets them.
struct PendingFire {
    let sequences: [Int64]
    /// Each topic's offset end that must be durable first.
    let needs: [String: UInt64]
}

/// Scheduled events: publishes held for later. The scheduler (its own thread and store) keeps
/// them until due; the broker confirms them once stored, appends them when they come due, and
/// answers cancellations.
extension Broker {
    /// The wall-clock time at which `item` is due, or nil when it is due already (published at
    /// once). Throws for a time too far ahead, both fields set, or a broker that schedules nothing.
    func dueTime(of item: PublishFrame.Item) throws(ProtocolError) -> Int64? {
        if item.deliverAtMicros != 0 && item.deliverAfterMilliseconds != 0 {
            throw ProtocolError(.invalidArgument, "set deliver_at_us or deliver_after_ms, not both")
        }
        let limit = configuration.limits.maxScheduleDelayMilliseconds
        if item.deliverAfterMilliseconds > limit || item.deliverAtMicros > UInt64(Int64.max) {
            throw ProtocolError(.invalidArgument, "an event may be scheduled at most \(limit) ms (366 days) ahead")
        }
        let due =
            item.deliverAtMicros != 0
            ? Int64(item.deliverAtMicros) : wallNow + Int64(item.deliverAfterMilliseconds) * 1000
        guard due > wallNow else { return nil }
        let topic = String(decoding: item.topic, as: UTF8.self)
        if !knownTopics.contains(topic) && knownTopics.count >= configuration.maxTopics && scheduler?.summary.byTopic[topic] == nil {
            throw ProtocolError(
                .resourceExhausted,
                "the broker holds \(knownTopics.count) topics, its limit (max_topics); topic '\(topic)' cannot be scheduled for")
        }
        if due - wallNow > Int64(limit) * 1000 {
            throw ProtocolError(
                .invalidArgument, "deliver_at_us is \((due - wallNow) / 1000) ms ahead; an event may be scheduled at most \(limit) ms (366 days) ahead")
        }
        guard scheduler != nil else {
            throw ProtocolError(.invalidArgument, "this broker keeps no schedule: publish without deliver_at_us or deliver_after_ms")
        }
        return due
    }

    /// Most bytes of scheduled events handed to the scheduler and not yet stored: past it, items
    /// for later are refused (`RESOURCE_EXHAUSTED`) until the schedule's disk catches up.
    static let maxScheduleBacklogBytes = 64 << 20
    /// The `publishScratch` value of an id scheduled earlier in the same publish.
    static let scheduledInThisPublish: UInt64 = 1 << 63  // beyond any batch and index; not DedupTable's removed marker

    /// Hands a publish's items for later to the scheduler; returns the ticket its answer will
    /// carry and their sequences, or nil when there were none.
    func submitScheduled(_ pass: inout PublishPass) -> (ticket: UInt64, sequences: [UInt64])? {
        guard let scheduler, !pass.scheduled.isEmpty else { return nil }
        let ticket = nextScheduleTicket
        nextScheduleTicket += 1
        scheduleBacklogBytes += pass.scheduledBytes
        scheduleBacklogByTicket[ticket] = pass.scheduledBytes
        scheduler.schedule(pass.scheduled, ticket: ticket)
        return (ticket, pass.scheduledSequences)
    }

    /// Takes what the scheduler answered: confirms of stored items, cancellations, due events.
    func takeScheduleAnswers() {
        guard let scheduler else { return }
        var confirmsChanged = false
        for answer in scheduler.answers.drain() {
            switch answer {
            case .scheduled(let ticket, let outcomes):
                settleScheduled(ticket: ticket, outcomes: outcomes)
                confirmsChanged = true
            case .cancelled(let ticket, let outcome):
                answerCancel(ticket: ticket, outcome: outcome)
            case .due(let events):
                // Not while stopping: they stay in the schedule and come again at the next start.
                if !isShuttingDown { fire(events) }
            }
        }
        metrics.scheduledWaiting.record(scheduler.summary.events)
        if confirmsChanged { releaseDurableConfirms() }
    }

    private func settleScheduled(ticket: UInt64, outcomes: [ScheduleOutcome]) {
        scheduleBacklogBytes -= scheduleBacklogByTicket.removeValue(forKey: ticket) ?? 0
        guard let index = pendingConfirms.firstIndex(where: { $0.scheduleTicket == ticket }) else { return }
        var confirm = pendingConfirms[index]
        for (sequence, outcome) in zip(confirm.scheduledSequences, outcomes) {
            var scheduled = ScheduledConfirmation()
            scheduled.sequence = sequence
            switch outcome {
            case .scheduled(let due):
                scheduled.dueUs = UInt64(due)
                confirm.result.scheduled.append(scheduled)
                metrics.scheduled.increment()
            case .duplicate(let due):
                scheduled.dueUs = UInt64(due)
                scheduled.duplicate = true
                confirm.result.scheduled.append(scheduled)
                metrics.duplicates.increment()
            case .refused(let error):
                reject(sequence, ProtocolError(error.code == .full ? .storageFull : .storageFailure, error.message), into: &confirm.result)
            }
        }
        confirm.scheduleTicket = nil
        pendingConfirms[index] = confirm
    }

    /// Appends due events to their topics, in the order handed over (per topic, so per key).
    /// An id already in the dedup window was appended before (a restart handed it over again):
    /// it is not appended twice.
    func fire(_ events: [ScheduledEvent]) {
        guard let scheduler else { return }
        var batches: [TopicBatch] = []
        var batchSequences: [[Int64]] = []
        var fired: [Int64] = []
        var needs: [String: UInt64] = [:]
        for event in events {
            let key = DedupKey(topic: event.topic, id: event.id)
            if let offset = dedup.offset(for: key) {
                fired.append(event.sequence)
                if log.durableEnd(topic: event.topic) <= offset { needs[event.topic] = max(needs[event.topic] ?? 0, offset + 1) }
                continue
            }
            let index: Int
            if let existing = batches.firstIndex(where: { $0.topic == event.topic }) {
                index = existing
            } else {
                batches.append(TopicBatch(topic: event.topic))
                batchSequences.append([])
                index = batches.count - 1
            }
            var body = event.body
            PublishFrame.Item.appendStoredAt(wallNow, to: &body)
            batches[index].sequences.append(UInt64(bitPattern: event.sequence))
            batches[index].keys.append(key)
            batches[index].events.append(NewEvent(key: event.key, timestampMicros: wallNow, body: body, id: event.id))
            batchSequences[index].append(event.sequence)
            metrics.scheduleLateness.recordMicroseconds(max(wallNow - event.dueMicros, 0))
        }
        var failed: [Int64] = []
        for (index, batch) in batches.enumerated() {
            var ignored = PublishResult()
            guard let offsets = append(batch, publisher: Self.schedulerName, into: &ignored), let last = offsets.last else {
                failed += batchSequences[index]
                continue
            }
            fired += batchSequences[index]
            metrics.scheduledFired.increment(by: offsets.count)
            if log.durableEnd(topic: batch.topic) <= last { needs[batch.topic] = max(needs[batch.topic] ?? 0, last + 1) }
        }
        if !failed.isEmpty {
            logger.warning("due scheduled events could not be appended; trying again", metadata: ["events": "\(failed.count)"])
            scheduler.retry(failed)
        }
        guard !fired.isEmpty else { return }
        if needs.isEmpty {
            scheduler.fired(fired)
        } else {
            pendingFires.append(PendingFire(sequences: fired, needs: needs))
        }
    }

    /// Tells the scheduler which appended events became durable: they leave the schedule.
    func releaseFiredEvents() {
        guard let scheduler, !pendingFires.isEmpty else { return }
        var waiting: [PendingFire] = []
        var durable: [Int64] = []
        for fire in pendingFires {
            if fire.needs.allSatisfy({ log.durableEnd(topic: $0.key) >= $0.value }) {
                durable += fire.sequences
            } else {
                waiting.append(fire)
            }
        }
        pendingFires = waiting
        if !durable.isEmpty { scheduler.fired(durable) }
    }

    /// Who published a scheduled event, as the trace names the append.
    static let schedulerName = "ferry-scheduler"

    func handleCancelScheduled(_ cancel: CancelScheduled, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        if cancel.topic.isEmpty { throw ProtocolError(.missingField, "topic is required") }
        if cancel.eventID.isEmpty { throw ProtocolError(.missingField, "event_id is required") }
        if cancel.topic.utf8.count > configuration.limits.maxTopicBytes || cancel.eventID.utf8.count > configuration.limits.maxEventIDBytes {
            throw ProtocolError(
                .invalidArgument,
                "topic or event_id too long; the limits are \(configuration.limits.maxTopicBytes) and \(configuration.limits.maxEventIDBytes) bytes"
            )
        }
        var topic = cancel.topic
        let allowed = topic.withUTF8 { mayPublish(UnsafeRawBufferPointer($0), from: peer) }
        if !allowed {
            let principal = peer.principal?.name ?? ""
            metrics.countRefusal(principal: principal, reason: "publish")
            throw ProtocolError(.forbidden, "principal '\(principal)' may not publish to '\(cancel.topic)', so may not cancel its events")
        }
        guard let scheduler else {
            throw ProtocolError(.invalidArgument, "this broker keeps no schedule: there is nothing to cancel")
        }
        let ticket = nextScheduleTicket
        nextScheduleTicket += 1
        pendingCancels[ticket] = (peer.id, requestID)
        scheduler.cancel(topic: cancel.topic, id: cancel.eventID, ticket: ticket)
    }

    private func answerCancel(ticket: UInt64, outcome: CancelOutcome) {
        guard let waiting = pendingCancels.removeValue(forKey: ticket), let peer = peers[waiting.peer] else { return }
        var reply = ScheduledCancelled()
        switch outcome {
        case .cancelled(let due):
            reply.outcome = .cancelled
            reply.dueUs = UInt64(due)
            metrics.scheduledCancelled.increment()
        case .notScheduled:
            reply.outcome = .notScheduled
        case .alreadyDue(let due):
            reply.outcome = .alreadyDue
            reply.dueUs = UInt64(due)
        case .failed(let error):
            self.reply(
                to: peer, requestID: waiting.requestID,
                error: ProtocolError(error.code == .full ? .storageFull : .storageFailure, error.message))
            return
        }
        self.reply(to: peer, requestID: waiting.requestID, .scheduledCancelled(reply))
    }
}
