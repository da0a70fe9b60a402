import FerryProtocol

extension Session {
    /// Sends queued events in Publish batches while the unconfirmed window has room.
    func sendPublishes() {
        while queuedHead < queuedEvents.count && unconfirmed.count < configuration.maxUnconfirmedPublishes {
            let room = configuration.maxUnconfirmedPublishes - unconfirmed.count
            let end = min(queuedEvents.count, queuedHead + min(maxBatch, room))
            var publish = Publish()
            publish.items.reserveCapacity(end - queuedHead)
            var sequences: [UInt64] = []
            for queued in queuedEvents[queuedHead..<end] {
                nextSequence += 1
                var item = PublishItem()
                item.sequence = nextSequence
                item.event = queued.event
                publish.items.append(item)
                unconfirmed[nextSequence] = (queued.call, queued.index, queued.event)
                sequences.append(nextSequence)
            }
            queuedHead = end
            let requestID = newRequestID()
            publishRequests[requestID] = (Self.now() + requestTimeout, sequences)
            send(.publish(publish), requestID: requestID, reply: nil)
        }
        if queuedHead == queuedEvents.count {
            queuedEvents.removeAll(keepingCapacity: true)
            queuedHead = 0
        }
    }

    func completePublish(_ result: PublishResult, requestID: UInt64) {
        publishRequests.removeValue(forKey: requestID)
        for (index, sequence) in result.confirmed.enumerated() {
            guard let waiter = unconfirmed.removeValue(forKey: sequence) else { continue }
            let offset = index < result.offsets.count ? result.offsets[index] : 0
            waiter.call.complete(waiter.index, .success(offset))
        }
        for rejection in result.rejected {
            failSequence(rejection.sequence, FerryError(.broker(rejection.code), rejection.message))
        }
    }

    func failSequence(_ sequence: UInt64, _ error: FerryError) {
        guard let waiter = unconfirmed.removeValue(forKey: sequence) else { return }
        waiter.call.complete(waiter.index, .failure(error))
    }

}
