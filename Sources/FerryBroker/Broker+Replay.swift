import FerryProtocol
import FerryStorage
import Logging
import SwiftProtobuf

extension Broker {
    func handleReplay(_ replay: Replay, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        try configuration.limits.validateGroup(replay.group)
        guard let group = groups[replay.group] else { throw ProtocolError(.unknownGroup, "no consumer group named '\(replay.group)'") }
        guard let position = replay.position else {
            throw ProtocolError(.missingField, "replay needs a position: offset, timestamp_us, beginning or end")
        }
        var topics = replay.topic.isEmpty ? Array(group.cursors.keys) : [replay.topic]
        if !replay.topic.isEmpty && group.cursors[replay.topic] == nil {
            guard knownTopics.contains(replay.topic), group.matches(replay.topic) else {
                throw ProtocolError(.invalidArgument, "group '\(replay.group)' does not follow topic '\(replay.topic)'")
            }
            group.cursors[replay.topic] = TopicCursor(topic: replay.topic, start: log.bounds(topic: replay.topic).lowerBound)
        }
        topics.sort()
        var replayed = Replayed()
        for topic in topics {
            guard let cursor = group.cursors[topic] else { continue }
            let bounds = log.bounds(topic: topic)
            let target: UInt64
            switch position {
            case .offset(let offset): target = min(max(offset, bounds.lowerBound), bounds.upperBound)
            case .beginning: target = bounds.lowerBound
            case .end: target = log.durableEnd(topic: topic)
            case .timestampUs(let timestamp):
                do {
                    target = try log.offset(topic: topic, atOrAfter: timestamp)
                } catch {
                    throw ProtocolError(.storageFailure, error.message)
                }
            }
            if let tracer, target < cursor.next {
                // Every event between the new position and the old one is delivered again.
                tracer.record(
                    TraceRecord(
                        kind: .replayed, timeMicros: wallNow, topic: topic, offset: target, group: group.name, actor: traceName(of: peer),
                        number: Int64(cursor.next)), sampled: false)
            }
            cursor.next = target
            var entry = CursorPosition()
            entry.topic = topic
            entry.offset = target
            replayed.cursors.append(entry)
        }
        audit("group cursor moved", by: peer, ["group": "\(group.name)", "position": "\(position)", "topics": "\(topics.count)"])
        reply(to: peer, requestID: requestID, .replayed(replayed))
    }

    func handleHistory(_ request: HistoryRequest, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        if request.key.isEmpty { throw ProtocolError(.missingField, "history needs a key") }
        let limit = request.limit == 0 ? 1000 : min(Int(request.limit), 10_000)
        let found: [(topic: String, event: StoredEvent)]
        do {
            found = try log.history(key: request.key, limit: limit)
        } catch {
            throw ProtocolError(.storageFailure, error.message)
        }
        var entries = HistoryEntries()
        for (topic, event) in found {
            var entry = HistoryEntry()
            entry.topic = topic
            entry.offset = event.offset
            entry.event = (try? WireEvent(serializedBytes: event.body)) ?? WireEvent()
            entries.entries.append(entry)
        }
        reply(to: peer, requestID: requestID, .historyEntries(entries))
    }
}
