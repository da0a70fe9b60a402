import FerryProtocol
import FerryRuntime
import FerryStorage
import Metrics

/// A publish result held until its events are durable.
struct PendingConfirm {
    let peer: PeerID
    let requestID: UInt64
    var result: PublishResult
    /// Each topic's offset end that must be durable first.
    let needs: [String: UInt64]
    /// When the Publish was read.
    let received: MonotonicInstant
    /// The scheduler's ticket for the items to append later, until it answered; their sequences.
    var scheduleTicket: UInt64? = nil
    var scheduledSequences: [UInt64] = []
}

/// Confirms: publish results held until their events are as durable as the topic's fsync
/// policy promises, released when the store reports a sync.
extension Broker {
    /// Sends a publish result at once when `needs` (each topic's offset end that must be
    /// durable) is empty, else holds it until the store reports those offsets durable.
    func confirm(
        _ result: PublishResult, to peer: Peer, requestID: UInt64, onceDurable needs: [String: UInt64],
        scheduled: (ticket: UInt64, sequences: [UInt64])? = nil
    ) {
        if let scheduled {
            // Held until the scheduler has stored the items for later, and the rest is durable.
            pendingConfirms.append(
                PendingConfirm(
                    peer: peer.id, requestID: requestID, result: result, needs: needs, received: now, scheduleTicket: scheduled.ticket,
                    scheduledSequences: scheduled.sequences))
        } else if needs.isEmpty {
            reply(to: peer, requestID: requestID, .publishResult(result))
            // Confirmed as it was read: counted, and left out of the wait's histogram (whose
            // record takes a lock, once per Publish, on the hot path).
            metrics.confirmed.increment(by: result.confirmed.count)
        } else {
            // Confirmed only once durable: the syncer reports back through the store.
            pendingConfirms.append(PendingConfirm(peer: peer.id, requestID: requestID, result: result, needs: needs, received: now))
        }
    }

    /// Sends the publish results whose events became durable.
    func releaseDurableConfirms() {
        releaseFiredEvents()
        guard !pendingConfirms.isEmpty else { return }
        var waiting: [PendingConfirm] = []
        for confirm in pendingConfirms {
            if confirm.scheduleTicket == nil, confirm.needs.allSatisfy({ log.durableEnd(topic: $0.key) >= $0.value }) {
                if let peer = peers[confirm.peer] { reply(to: peer, requestID: confirm.requestID, .publishResult(confirm.result)) }
                metrics.confirmed.increment(by: confirm.result.confirmed.count + confirm.result.scheduled.count)
                metrics.publishToConfirm.recordNanoseconds(Int64(clamping: (now - confirm.received).value))
            } else {
                waiting.append(confirm)
            }
        }
        pendingConfirms = waiting
    }
}
