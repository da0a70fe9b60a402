import FerryProtocol
import FerryStorage

extension Broker {
    func handlePublish(_ publish: Publish, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        if isShuttingDown { throw ProtocolError(.shuttingDown, "the broker is shutting down; publish elsewhere or retry later") }
        if publish.items.count > configuration.limits.maxBatch {
            throw ProtocolError(
                .batchTooLarge, "\(publish.items.count) items in one Publish; the limit is \(configuration.limits.maxBatch)")
        }
        var result = PublishResult()
        result.confirmed.reserveCapacity(publish.items.count)
        result.offsets.reserveCapacity(publish.items.count)
        // Accepted events per topic, in publish order, appended in one call per topic.
        var batches: [String: (sequences: [UInt64], dedupKeys: [String], events: [NewEvent])] = [:]
        var batchOrder: [String] = []
        var seenInBatch: Set<String> = []
        let storedAt = Clock.wallMicroseconds()

        for item in publish.items {
            do {
                try configuration.limits.validate(item.event)
            } catch {
                reject(item.sequence, error, into: &result)
                continue
            }
            let dedupKey = DedupWindow.key(topic: item.event.topic, id: item.event.id)
            if let offset = dedup.offset(for: dedupKey) {
                result.confirmed.append(item.sequence)
                result.offsets.append(offset)
                metrics.duplicates.increment()
                continue
            }
            if !seenInBatch.insert(dedupKey).inserted {
                // The same id twice in one batch: confirmed below with the first one's offset.
                batches[item.event.topic, default: ([], [], [])].sequences.append(item.sequence)
                batches[item.event.topic]!.dedupKeys.append(dedupKey)
                batches[item.event.topic]!.events.append(NewEvent(key: "", timestampMicros: 0, body: []))
                continue
            }
            var event = item.event
            event.storedAtUs = storedAt
            let body = WireFormat.encode(event)
            if batches[event.topic] == nil { batchOrder.append(event.topic) }
            batches[event.topic, default: ([], [], [])].sequences.append(item.sequence)
            batches[event.topic]!.dedupKeys.append(dedupKey)
            batches[event.topic]!.events.append(NewEvent(key: event.key, timestampMicros: storedAt, body: body, id: event.id))
        }

        var needs: [String: UInt64] = [:]
        for topic in batchOrder {
            guard let batch = batches[topic] else { continue }
            if let end = append(batch, to: topic, into: &result), store.durableEnd(topic: topic) < end { needs[topic] = end }
        }
        if needs.isEmpty {
            reply(to: peer, requestID: requestID, .publishResult(result))
        } else {
            // Confirmed only once durable: the syncer reports back through the store.
            pendingConfirms.append(PendingConfirm(peer: peer.id, requestID: requestID, result: result, needs: needs))
        }
    }

    /// Appends one topic's events; returns the offset end that must be durable before confirming.
    private func append(
        _ batch: (sequences: [UInt64], dedupKeys: [String], events: [NewEvent]), to topic: String, into result: inout PublishResult
    ) -> UInt64? {
        // Intra-batch duplicates carry an empty body: store only the first of each id.
        var storedIndices: [Int] = []
        var toStore: [NewEvent] = []
        var firstIndex: [String: Int] = [:]
        for index in batch.events.indices {
            if firstIndex[batch.dedupKeys[index]] == nil {
                firstIndex[batch.dedupKeys[index]] = index
                storedIndices.append(index)
                toStore.append(batch.events[index])
            }
        }
        let offsets: [UInt64]
        do {
            offsets = try store.append(topic: topic, events: toStore)
        } catch {
            let code: ErrorCode = error.code == .full ? .storageFull : .storageFailure
            for sequence in batch.sequences {
                reject(sequence, ProtocolError(code, error.message), into: &result)
            }
            return nil
        }
        var offsetByIndex: [Int: UInt64] = [:]
        for (position, index) in storedIndices.enumerated() {
            offsetByIndex[index] = offsets[position]
            dedup.remember(batch.dedupKeys[index], offset: offsets[position], now: now)
        }
        for index in batch.events.indices {
            let offset = offsetByIndex[index] ?? offsetByIndex[firstIndex[batch.dedupKeys[index]]!]!
            result.confirmed.append(batch.sequences[index])
            result.offsets.append(offset)
        }
        metrics.published.increment(by: toStore.count)
        metrics.duplicates.increment(by: batch.events.count - toStore.count)
        metrics.storedBytes.record(store.storedBytes)
        if knownTopics.insert(topic).inserted { attachNewTopic(topic) }
        return offsets.last.map { $0 + 1 }
    }

    private func reject(_ sequence: UInt64, _ error: any Error, into result: inout PublishResult) {
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
        let start = store.bounds(topic: topic).lowerBound
        for group in groups.values where group.cursors[topic] == nil && group.matches(topic) {
            group.cursors[topic] = TopicCursor(topic: topic, start: start)
        }
    }
}
