import FerryProtocol
import FerryRuntime
import SwiftProtobuf

extension Session {
    /// Sends queued events in Publish batches while the unconfirmed window has room.
    /// Batches are also cut by size: the broker drops a frame over `Welcome.max_frame_bytes`
    /// unread, and the connection with it. An event over `max_event_bytes` fails here, unsent.
    func sendPublishes() {
        while queuedHead < queuedEvents.count && unconfirmed.count < configuration.maxUnconfirmedPublishes {
            let room = configuration.maxUnconfirmedPublishes - unconfirmed.count
            let limit = min(queuedEvents.count, queuedHead + min(maxBatch, room))
            var publish = Publish()
            var sequences: [UInt64] = []
            var frameBytes = Self.frameOverheadBytes
            var end = queuedHead
            var refused: Set<Int> = []
            var waitingForWelcome = false
            while end < limit {
                let queued = queuedEvents[end]
                if queued.schedule != nil && !welcomeReceived {
                    // Whether the broker keeps a schedule is in its Welcome: wait for it.
                    waitingForWelcome = true
                    break
                }
                if queued.schedule != nil && !brokerSchedules {
                    // An older broker would ignore the schedule and publish the event at once.
                    queued.call.complete(
                        queued.index,
                        .failure(
                            FerryError(
                                .broker(.invalidArgument),
                                "this broker keeps no schedule (Welcome.max_schedule_delay_ms is 0): the event was not published")))
                    refused.insert(end)
                    end += 1
                    continue
                }
                var size = queued.event.encodedSizeBound
                if size > maxEventBytes { size = (try? queued.event.serializedBytes() as [UInt8])?.count ?? size }
                if size > maxEventBytes {
                    queued.call.complete(
                        queued.index,
                        .failure(
                            FerryError(
                                .broker(.payloadTooLarge),
                                "the encoded event is \(size) bytes; the broker takes at most \(maxEventBytes) (max_event_bytes)")))
                    refused.insert(end)
                    end += 1
                    continue
                }
                if end > queuedHead && frameBytes + size > maxFrameBytes { break }
                frameBytes += size + Self.itemOverheadBytes
                end += 1
            }
            publish.items.reserveCapacity(end - queuedHead)
            for (position, queued) in queuedEvents[queuedHead..<end].enumerated() where !refused.contains(queuedHead + position) {
                nextSequence += 1
                var item = PublishItem()
                item.sequence = nextSequence
                item.event = queued.event
                if let schedule = queued.schedule {
                    (item.deliverAtUs, item.deliverAfterMs) = schedule.wire
                }
                publish.items.append(item)
                unconfirmed[nextSequence] = (queued.call, queued.index, queued.event, queued.schedule)
                sequences.append(nextSequence)
            }
            queuedHead = end
            if publish.items.isEmpty {
                if waitingForWelcome { break }
                continue
            }
            let requestID = newRequestID()
            publishRequests[requestID] = (MonotonicInstant.now() + requestTimeout, sequences)
            send(.publish(publish), requestID: requestID, reply: nil)
        }
        if queuedHead == queuedEvents.count {
            queuedEvents.removeAll(keepingCapacity: true)
            queuedHead = 0
        }
    }

    /// Bytes of a Publish frame besides its events (request id, command and item framing).
    static let frameOverheadBytes = 64
    static let itemOverheadBytes = 24

    func completePublish(_ result: PublishResult, requestID: UInt64) {
        publishRequests.removeValue(forKey: requestID)
        for (index, sequence) in result.confirmed.enumerated() {
            guard let waiter = unconfirmed.removeValue(forKey: sequence) else { continue }
            let offset = index < result.offsets.count ? result.offsets[index] : 0
            waiter.call.complete(waiter.index, .success(.stored(offset: offset)))
        }
        for scheduled in result.scheduled {
            guard let waiter = unconfirmed.removeValue(forKey: scheduled.sequence) else { continue }
            waiter.call.complete(waiter.index, .success(.scheduled(dueMicros: scheduled.dueUs, duplicate: scheduled.duplicate)))
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
