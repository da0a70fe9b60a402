import FerryProtocol
import FerryStorage

/// A reply that promises durable group state, held until the store says it is on disk.
struct HeldReply {
    let member: Member
    let requestID: UInt64
    let reply: ServerMessage.OneOf_Reply
    /// The store's group-state ticket that must be durable first.
    let ticket: UInt64
    /// When it was held (monotonic nanoseconds).
    let since: UInt64
}

extension Broker {
    /// How long a reply waits for group state that cannot be saved before it becomes an error.
    static let heldReplyLimitNanoseconds: UInt64 = 10_000_000_000

    /// Saves the group state changed so far and sends `reply` once it is durable; `member` gets
    /// no deliveries until then. Saves happen on the store's own thread: the loop goes on.
    func holdUntilGroupStateIsDurable(_ member: Member, requestID: UInt64, reply: ServerMessage.OneOf_Reply) {
        persistGroupState()
        let ticket = store.groupStateTicket
        if store.durableGroupStateTicket >= ticket && heldReplies.isEmpty {
            send(reply, for: member, requestID: requestID)
            return
        }
        member.awaitingDurableState = true
        member.group.membershipChanged()
        heldReplies.append(HeldReply(member: member, requestID: requestID, reply: reply, ticket: ticket, since: now))
        store.syncGroupStateSoon()
    }

    /// Sends the held replies whose group state became durable; after
    /// ``heldReplyLimitNanoseconds`` of failing saves, ends the subscription with an error.
    public func releaseDurableGroupReplies() {
        store.collectGroupStateNotifications()
        guard !heldReplies.isEmpty else { return }
        let durable = store.durableGroupStateTicket
        var waiting: [HeldReply] = []
        for held in heldReplies {
            let member = held.member
            let peer = member.peer
            guard peers[peer.id] === peer, peer.subscriptions[member.subscriptionID] === member else { continue }
            if held.ticket <= durable {
                member.awaitingDurableState = false
                member.group.membershipChanged()
                send(held.reply, for: member, requestID: held.requestID)
            } else if now &- held.since >= Self.heldReplyLimitNanoseconds {
                remove(member, reason: "its group's state could not be saved")
                reply(
                    to: peer, requestID: held.requestID,
                    error: ProtocolError(
                        .storageFailure,
                        "group '\(member.group.name)' could not be saved to disk within \(Self.heldReplyLimitNanoseconds / 1_000_000_000) s; subscribe again later"
                    ))
            } else {
                waiting.append(held)
            }
        }
        heldReplies = waiting
        if !heldReplies.isEmpty { store.syncGroupStateSoon() }
    }

    private func send(_ body: ServerMessage.OneOf_Reply, for member: Member, requestID: UInt64) {
        reply(to: member.peer, requestID: requestID, body)
    }
}
