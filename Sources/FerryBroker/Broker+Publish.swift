import FerryProtocol
import FerryStorage
import Metrics

extension Broker {
    /// A Publish that SwiftProtobuf decoded (a frame ``PublishFrame`` did not take as it was):
    /// handled from its canonical encoding, so every publish goes through one path.
    func handlePublish(_ publish: Publish, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        let canonical = PublishFrame.encode(requestID: requestID, publish: publish)
        try canonical.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in
                guard let frame = PublishFrame.read(bytes) else {
                    throw ProtocolError(.malformedFrame, "the Publish could not be read after decoding")
                }
                try handlePublish(frame, from: peer)
            }
        }.get()
    }

    func handlePublish(_ publish: PublishFrame, from peer: Peer) throws(ProtocolError) {
        if isShuttingDown { throw ProtocolError(.shuttingDown, "the broker is shutting down; publish elsewhere or retry later") }
        if publish.items.count > configuration.limits.maxBatch {
            throw ProtocolError(
                .batchTooLarge, "\(publish.items.count) items in one Publish; the limit is \(configuration.limits.maxBatch)")
        }
        var pass = PublishPass(capacity: publish.items.count, storedAt: wallNow, publisher: tracer == nil ? "" : traceName(of: peer))
        defer {
            // Ids seen in this publish, by batch and index: emptied for the next one.
            publishScratch.removeAll(insertedInOrder: publishScratchKeys)
            publishScratchKeys.removeAll(keepingCapacity: true)
        }
        for item in publish.items { accept(item, from: peer, into: &pass) }
        store(&pass)
        confirm(pass.result, to: peer, requestID: publish.requestID, onceDurable: pass.needs, scheduled: submitScheduled(&pass))
    }

    /// What one Publish has come to so far: the reply, the accepted events per topic, the ids
    /// repeated within it, and how far each topic must be durable before the reply goes out.
    struct PublishPass {
        var result = PublishResult()
        /// Accepted events per topic, in publish order, appended in one call per topic. Most
        /// publishes carry one topic, so a short array beats a dictionary.
        var batches: [TopicBatch] = []
        var repeats: [(sequence: UInt64, batch: Int, index: Int)] = []
        /// Items to append later, for the scheduler, and their sequences.
        var scheduled: [ScheduledEvent] = []
        var scheduledSequences: [UInt64] = []
        var scheduledBytes = 0
        var needs: [String: UInt64] = [:]
        let storedAt: Int64
        /// Who published, as the trace names it (empty when nothing is traced).
        let publisher: String

        init(capacity: Int, storedAt: Int64, publisher: String) {
            result.confirmed.reserveCapacity(capacity)
            result.offsets.reserveCapacity(capacity)
            self.storedAt = storedAt
            self.publisher = publisher
        }
    }

    /// Checks one item: rejected, confirmed as a repeat (of an id in the dedup window or earlier
    /// in this publish), or added to its topic's batch.
    private func accept(_ item: PublishFrame.Item, from peer: Peer, into pass: inout PublishPass) {
        let dueMicros: Int64?
        do {
            try configuration.limits.validate(
                topic: item.topic, id: item.id, keyBytes: item.key.count, payloadBytes: item.payloadBytes, eventBytes: item.event.count)
            if item.setsPrincipalHeader {
                throw ProtocolError(
                    .invalidArgument, "the \(PublishFrame.principalHeader) header is set by the broker; remove it before publishing")
            }
            if !mayPublish(item.topic, from: peer) {
                let principal = peer.principal?.name ?? ""
                metrics.countRefusal(principal: principal, reason: "publish")
                throw ProtocolError(
                    .forbidden, "principal '\(principal)' may not publish to '\(String(decoding: item.topic, as: UTF8.self))'")
            }
            dueMicros = item.asksForSchedule ? try dueTime(of: item) : nil
        } catch {
            reject(item.sequence, error, into: &pass.result)
            return
        }
        let key = DedupKey(topic: item.topic, id: item.id)
        if let offset = dedup.offset(for: key) {
            pass.result.confirmed.append(item.sequence)
            pass.result.offsets.append(offset)
            metrics.duplicates.increment()
            // The original may still wait for its fsync: its repeat is confirmed no sooner.
            let topic = String(decoding: item.topic, as: UTF8.self)
            tracer?.record(TraceRecord(kind: .duplicate, timeMicros: wallNow, topic: topic, offset: offset, actor: pass.publisher))
            if log.durableEnd(topic: topic) <= offset { pass.needs[topic] = max(pass.needs[topic] ?? 0, offset + 1) }
            return
        }
        if let dueMicros {
            if let first = publishScratch.value(for: key), first != Self.scheduledInThisPublish {
                // Published at once earlier in this publish: the same event, with its offset.
                pass.repeats.append((item.sequence, Int(first >> 32), Int(first & 0xFFFF_FFFF)))
                return
            }
            if scheduleBacklogBytes + pass.scheduledBytes + item.event.count > Self.maxScheduleBacklogBytes {
                reject(
                    item.sequence,
                    ProtocolError(
                        .resourceExhausted,
                        "the schedule is behind: \(scheduleBacklogBytes) bytes wait to be stored (the limit is \(Self.maxScheduleBacklogBytes)); retry later"
                    ), into: &pass.result)
                return
            }
            if publishScratch.value(for: key) == nil {
                publishScratch.insert(key, value: Self.scheduledInThisPublish, replacing: false)
                publishScratchKeys.append(key)
            }
            pass.scheduledBytes += item.event.count
            pass.scheduledSequences.append(item.sequence)
            pass.scheduled.append(
                ScheduledEvent(
                    topic: String(decoding: item.topic, as: UTF8.self), id: String(decoding: item.id, as: UTF8.self),
                    key: String(decoding: item.key, as: UTF8.self), dueMicros: dueMicros,
                    body: item.scheduledEvent(adding: peer.principalHeader)))
            return
        }
        if let first = publishScratch.value(for: key) {
            if first == Self.scheduledInThisPublish {
                reject(
                    item.sequence, ProtocolError(.invalidArgument, "an item earlier in this publish schedules the same id for later"),
                    into: &pass.result)
                return
            }
            // The same id twice in one publish: confirmed with the first one's offset.
            pass.repeats.append((item.sequence, Int(first >> 32), Int(first & 0xFFFF_FFFF)))
            return
        }
        let batchIndex: Int
        if let last = pass.batches.indices.last, pass.batches[last].topicBytes.elementsEqual(item.topic) {
            batchIndex = last
        } else if let existing = pass.batches.firstIndex(where: { $0.topicBytes.elementsEqual(item.topic) }) {
            batchIndex = existing
        } else {
            pass.batches.append(TopicBatch(topicBytes: item.topic))
            batchIndex = pass.batches.count - 1
        }
        publishScratch.insert(key, value: UInt64(batchIndex) << 32 | UInt64(pass.batches[batchIndex].events.count), replacing: false)
        publishScratchKeys.append(key)
        pass.batches[batchIndex].sequences.append(item.sequence)
        pass.batches[batchIndex].keys.append(key)
        pass.batches[batchIndex].events.append(
            NewEvent(
                key: item.key.isEmpty ? "" : String(decoding: item.key, as: UTF8.self), timestampMicros: pass.storedAt,
                body: item.storedEvent(storedAtMicros: pass.storedAt, adding: peer.principalHeader), id: String(decoding: item.id, as: UTF8.self)))
    }

    /// Appends each topic's batch, then confirms the ids repeated within the publish with their
    /// first occurrence's offset.
    private func store(_ pass: inout PublishPass) {
        var offsets: [[UInt64]?] = []
        for batch in pass.batches {
            let appended = append(batch, publisher: pass.publisher, into: &pass.result)
            offsets.append(appended)
            if let end = appended?.last.map({ $0 + 1 }), log.durableEnd(topic: batch.topic) < end {
                pass.needs[batch.topic] = max(pass.needs[batch.topic] ?? 0, end)
            }
        }
        for repeated in pass.repeats {
            if let offset = offsets[repeated.batch]?[repeated.index] {
                pass.result.confirmed.append(repeated.sequence)
                pass.result.offsets.append(offset)
                metrics.duplicates.increment()
                tracer?.record(
                    TraceRecord(
                        kind: .duplicate, timeMicros: wallNow, topic: pass.batches[repeated.batch].topic, offset: offset,
                        actor: pass.publisher))
            } else {
                reject(repeated.sequence, ProtocolError(.storageFailure, "the first event with this id was not stored"), into: &pass.result)
            }
        }
    }

    /// One topic's accepted events of a publish.
    struct TopicBatch {
        let topic: String
        let topicBytes: [UInt8]
        var sequences: [UInt64] = []
        var keys: [DedupKey] = []
        var events: [NewEvent] = []

        init(topicBytes: UnsafeRawBufferPointer) {
            self.topic = String(decoding: topicBytes, as: UTF8.self)
            self.topicBytes = Array(topicBytes)
        }

        init(topic: String) {
            self.topic = topic
            self.topicBytes = Array(topic.utf8)
        }
    }

    /// Appends one topic's events; returns their offsets, or nil (all rejected) when the store
    /// failed. `publisher` names the publisher in the trace.
    func append(_ batch: TopicBatch, publisher: String, into result: inout PublishResult) -> [UInt64]? {
        if !knownTopics.contains(batch.topic) && knownTopics.count >= configuration.maxTopics {
            let error = ProtocolError(
                .resourceExhausted,
                "the broker holds \(knownTopics.count) topics, its limit (max_topics); topic '\(batch.topic)' was not created")
            for sequence in batch.sequences { reject(sequence, error, into: &result) }
            return nil
        }
        let offsets: [UInt64]
        do {
            offsets = try log.append(topic: batch.topic, events: batch.events)
        } catch {
            let code: ErrorCode =
                switch error.code {
                case .full: .storageFull
                case .descriptors: .resourceExhausted
                case .io: .storageFailure
                }
            for sequence in batch.sequences {
                reject(sequence, ProtocolError(code, error.message), into: &result)
            }
            if code != .resourceExhausted { lastStorageRefusal = ("\(code.name): \(error.message)", now) }
            return nil
        }
        for (index, offset) in offsets.enumerated() {
            dedup.remember(batch.keys[index], offset: offset, now: now)
            result.confirmed.append(batch.sequences[index])
            result.offsets.append(offset)
        }
        metrics.published.increment(by: offsets.count)
        if let tracer {
            // The stored bytes go as they are: the trace writer reads the event's fields from them.
            let topic = tracer.number(of: batch.topic)
            let publisher = tracer.number(of: publisher)
            for (index, offset) in offsets.enumerated() where tracer.traces(topic: batch.topic, offset: offset) {
                let event = batch.events[index]
                tracer.recordPublished(timeMicros: event.timestampMicros, topic: topic, offset: offset, publisher: publisher, envelope: event.body)
            }
        }
        if knownTopics.insert(batch.topic).inserted { attachNewTopic(batch.topic) }
        return offsets
    }

    func reject(_ sequence: UInt64, _ error: any Error, into result: inout PublishResult) {
        let protocolError = error as? ProtocolError ?? ProtocolError(.storageFailure, "\(error)")
        var rejection = Rejection()
        rejection.sequence = sequence
        rejection.code = protocolError.code
        rejection.message = protocolError.message
        result.rejected.append(rejection)
        metrics.countRejection(protocolError.code)
    }

    /// Gives every group that matches a newly created topic a cursor at its beginning.
    func attachNewTopic(_ topic: String) {
        let start = log.bounds(topic: topic).lowerBound
        for group in groups.values where group.cursors[topic] == nil && group.matches(topic) {
            group.cursors[topic] = TopicCursor(topic: topic, start: start)
        }
    }
}
