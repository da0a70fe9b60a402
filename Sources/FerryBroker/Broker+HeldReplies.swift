import FerryProtocol
import FerryRuntime
import FerryStorage

/// A reply that promises durable group state, held until the store says it is on disk.
struct HeldReply {
    let member: Member
    let requestID: UInt64
    let reply: ServerMessage.OneOf_Reply
    /// The store's group-state ticket that must be durable first.
    let ticket: UInt64
    /// When it was held.
    let since: MonotonicInstant
}

extension Broker {
    /// How long a reply waits for group state that cannot be saved before it becomes an error:
    /// well within the 10 s a client waits for a reply by default.
    static let heldReplyLimit = Nanoseconds.seconds(5)

    /// Most subscriptions one connection holds, and longest member name.
    static let maxSubscriptionsPerConnection = 256
    static let maxNameBytes = 255

    /// Sends `reply` once the member's group is on disk: at once for a group whose definition
    /// and cursors are saved and durable; after saving them (`saving`: they changed) and the
    /// store's sync otherwise. `member` gets no deliveries until then. Saves happen on the
    /// store's own thread: the loop goes on, and a failing save of another group's state does
    /// not hold this reply.
    func holdUntilGroupStateIsDurable(_ member: Member, requestID: UInt64, reply: ServerMessage.OneOf_Reply, saving: Bool) {
        let group = member.group
        if saving {
            persistGroupState()
            group.definitionTicket = groupState.ticket
        }
        if groupState.durableTicket >= group.definitionTicket {
            self.reply(to: member.peer, requestID: requestID, reply)
            return
        }
        member.awaitingDurableState = true
        group.membershipChanged()
        heldReplies.append(HeldReply(member: member, requestID: requestID, reply: reply, ticket: group.definitionTicket, since: now))
        groupState.syncSoon()
    }

    /// Sends the held replies whose group state became durable; after
    /// ``heldReplyLimit`` of failing saves, ends the subscription with an error.
    func releaseDurableGroupReplies() {
        groupState.collectNotifications()
        guard !heldReplies.isEmpty else { return }
        let durable = groupState.durableTicket
        var waiting: [HeldReply] = []
        for held in heldReplies {
            let member = held.member
            let peer = member.peer
            guard peers[peer.id] === peer, peer.subscriptions[member.subscriptionID] === member else { continue }
            if held.ticket <= durable {
                member.awaitingDurableState = false
                member.group.membershipChanged()
                reply(to: peer, requestID: held.requestID, held.reply)
            } else if now - held.since >= Self.heldReplyLimit {
                remove(member, reason: "its group's state could not be saved")
                reply(
                    to: peer, requestID: held.requestID,
                    error: ProtocolError(
                        .storageFailure,
                        "group '\(member.group.name)' could not be saved to disk within \(Self.heldReplyLimit.wholeMilliseconds / 1000) s; subscribe again later"
                    ))
            } else {
                waiting.append(held)
            }
        }
        heldReplies = waiting
    }
}
