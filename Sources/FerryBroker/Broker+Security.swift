import FerryProtocol
import FerryRuntime
import Logging
import ZeroMQ

extension Broker {

    /// The peer of a message from an authenticated connection, its principal resolved in the
    /// credentials in force; nil (the message refused and answered) when the connection's key
    /// is not, or no longer, one the credentials hold.
    func authenticatedPeer(routingID: [UInt8], userID: UnsafeRawBufferPointer?, body: UnsafeRawBufferPointer) -> Peer? {
        guard let security else { return touchPeer(PeerID(bytes: routingID)) }
        let id = PeerID(bytes: routingID)
        // The broker routes by routing id alone. A short one (libzmq's own are a counter) could be
        // claimed by another client the moment its owner disconnects, and that client would
        // receive what the broker still sends to it: with CURVE, every session's id must be too
        // random to guess.
        guard routingID.count >= Self.minSecureRoutingIDBytes else {
            metrics.countRefusal(principal: "unknown", reason: "routing_id")
            refuseUnauthenticated(
                Peer(id: id, now: now), body: body,
                ProtocolError(
                    .unauthenticated,
                    "with CURVE a connection's routing id must be at least \(Self.minSecureRoutingIDBytes) bytes with 128 random bits (ZMQ_ROUTING_ID); this one is \(routingID.count)"
                ))
            return nil
        }
        var peer = touchPeer(id)
        let identity = userID ?? UnsafeRawBufferPointer(start: nil, count: 0)
        if peer.identity.isEmpty {
            peer.identity = Array(identity)
        } else if !peer.identity.elementsEqual(identity) {
            // A new connection took over a routing id the broker still held: the old session
            // is over, and nothing of it passes to the new key.
            removePeer(peer, reason: "its routing id now belongs to another client key")
            peer = touchPeer(id)
            peer.identity = Array(identity)
        }
        if peer.credentialsGeneration != security.generation { resolvePrincipal(of: peer, in: security) }
        if peer.principal != nil { return peer }
        metrics.countRefusal(principal: "unknown", reason: "unauthenticated")
        refuseUnauthenticated(
            peer, body: body,
            ProtocolError(
                .unauthenticated,
                "this connection's client key is not in the broker's credentials (it was removed); connect with a key it knows"))
        return nil
    }

    /// Shortest routing id a connection may have with CURVE: 16 bytes, for 128 random bits.
    static let minSecureRoutingIDBytes = 16

    /// Looks the peer's key up in the credentials in force.
    private func resolvePrincipal(of peer: Peer, in security: BrokerSecurity) {
        peer.credentialsGeneration = security.generation
        peer.lastPublishTopic = []
        let key = String(decoding: peer.identity, as: UTF8.self)
        guard let principal = security.credentials.principal(forKey: key) else {
            peer.principal = nil
            peer.principalHeader = []
            return
        }
        if principal.name != peer.principal?.name { peer.principalHeader = Self.encodedHeader(PublishFrame.principalHeader, principal.name) }
        peer.principal = principal
    }

    /// Answers a command of a connection whose key the credentials do not hold with
    /// `UNAUTHENTICATED` (Settle, Heartbeat and Goodbye have no reply and get none).
    private func refuseUnauthenticated(_ peer: Peer, body: UnsafeRawBufferPointer, _ error: ProtocolError) {
        // The command is the first field of the oneof's range.
        var reader = ProtoReader(body)
        while let (field, _) = reader.next() {
            guard (10...99).contains(field) else { continue }
            if [14, 15, 20].contains(field) { return }
            break
        }
        reply(to: peer, requestID: Self.readableRequestID(body), error: error)
    }

    /// Throws `FORBIDDEN` unless the connection's principal may run `command` (Publish items and
    /// subscriptions are checked where their topics are known).
    func authorize(_ command: ClientMessage.OneOf_Command?, from peer: Peer) throws(ProtocolError) {
        guard security != nil else { return }
        guard let principal = peer.principal else { throw Self.noPrincipal }
        let refusal: (reason: String, what: String)?
        switch command {
        case .deadLetterList(let list) where !principal.mayAdminister(group: list.group):
            refusal = ("admin", "list the dead letters of group '\(list.group)'")
        case .deadLetterRequeue(let requeue) where !principal.mayAdminister(group: requeue.group):
            refusal = ("admin", "requeue dead letters of group '\(requeue.group)'")
        case .deadLetterPurge(let purge) where !principal.mayAdminister(group: purge.group):
            refusal = ("admin", "purge dead letters of group '\(purge.group)'")
        case .replay(let replay) where !principal.mayAdminister(group: replay.group):
            refusal = ("admin", "move the cursor of group '\(replay.group)'")
        case .history where !principal.mayReadHistory: refusal = ("history", "read a key's history")
        case .trace where !principal.mayReadHistory: refusal = ("history", "read the trace of events")
        case .stats where !principal.mayReadStats: refusal = ("stats", "read the broker's stats")
        default: refusal = nil
        }
        guard let refusal else { return }
        metrics.countRefusal(principal: principal.name, reason: refusal.reason)
        if refusal.reason == "admin" {
            auditLogger.warning("admin command refused", metadata: ["principal": "\(principal.name)", "command": "\(refusal.what)"])
        }
        throw ProtocolError(.forbidden, "principal '\(principal.name)' may not \(refusal.what)")
    }

    /// Throws `FORBIDDEN` unless the connection's principal may subscribe to `patterns` in `group`.
    func authorizeSubscription(
        _ patterns: [TopicPattern], group: String, ephemeral: Bool, named: Bool, from peer: Peer
    ) throws(ProtocolError) {
        guard security != nil else { return }
        guard let principal = peer.principal else { throw Self.noPrincipal }
        // A tail the client names needs the name granted too, so that no principal can take a
        // group name another one is granted; a name the broker makes up needs only the topics.
        var reason = principal.refusal(subscribingTo: patterns, group: group, ephemeral: ephemeral && !named)
        if reason == nil, ephemeral, let existing = groups[group], existing.ephemeral, existing.owner != principal.name {
            reason = "ephemeral group '\(group)' belongs to another principal"
        }
        guard let reason else { return }
        metrics.countRefusal(principal: principal.name, reason: "subscribe")
        throw ProtocolError(.forbidden, "principal '\(principal.name)' may not subscribe: \(reason)")
    }

    /// Whether the connection may publish to the topic of `item` (always, without security).
    func mayPublish(_ topic: UnsafeRawBufferPointer, from peer: Peer) -> Bool {
        guard security != nil else { return true }
        guard let principal = peer.principal else { return false }
        if !peer.lastPublishTopic.isEmpty && peer.lastPublishTopic.elementsEqual(topic) { return peer.lastPublishAllowed }
        peer.lastPublishTopic = Array(topic)
        peer.lastPublishAllowed = principal.mayPublish(to: String(decoding: topic, as: UTF8.self))
        return peer.lastPublishAllowed
    }

    static let noPrincipal = ProtocolError(.unauthenticated, "this connection has no authenticated principal")

    /// Writes an administrative action to the audit log with the principal that ran it.
    func audit(_ action: String, by peer: Peer, _ metadata: Logger.Metadata) {
        var metadata = metadata
        metadata["principal"] = "\(peer.principal?.name ?? "-")"
        metadata["peer"] = "\(peer.id)"
        auditLogger.info("\(action)", metadata: metadata)
    }

    /// Puts new credentials in force: the sessions of keys no longer listed end at once, and so
    /// does every subscription its principal may no longer hold.
    func reloadCredentials(_ credentials: Credentials) {
        guard let security else {
            logger.warning("credentials ignored: this broker does not authenticate connections (no CURVE)")
            return
        }
        security.replace(with: credentials)
        var sessionsEnded = 0
        var subscriptionsEnded = 0
        for peer in Array(peers.values) where !peer.identity.isEmpty {
            resolvePrincipal(of: peer, in: security)
            guard let principal = peer.principal else {
                metrics.countRefusal(principal: "unknown", reason: "revoked")
                for member in peer.subscriptions.values {
                    tellSubscriptionEnded(member, .unauthenticated, "this connection's client key was removed from the broker's credentials")
                }
                reply(
                    to: peer, requestID: 0,
                    error: ProtocolError(.unauthenticated, "this connection's client key was removed from the broker's credentials"))
                removePeer(peer, reason: "its key was removed from the credentials", releasing: true)
                sessionsEnded += 1
                continue
            }
            for member in Array(peer.subscriptions.values) {
                guard
                    let reason = principal.refusal(
                        subscribingTo: member.patterns, group: member.group.name, ephemeral: member.group.ephemeral)
                else { continue }
                metrics.countRefusal(principal: principal.name, reason: "subscribe")
                tellSubscriptionEnded(member, .forbidden, "principal '\(principal.name)' may no longer hold this subscription: \(reason)")
                remove(member, reason: "its grant was revoked", releasing: true)
                subscriptionsEnded += 1
            }
        }
        logger.info(
            "credentials reloaded",
            metadata: [
                "principals": "\(credentials.principals.count)", "sessionsEnded": "\(sessionsEnded)",
                "subscriptionsEnded": "\(subscriptionsEnded)",
            ])
    }

    /// Tells the member's connection that the broker ended its subscription (protocol 5.12).
    private func tellSubscriptionEnded(_ member: Member, _ code: ErrorCode, _ message: String) {
        var ended = SubscriptionEnded()
        ended.subscriptionID = member.subscriptionID
        ended.code = code
        ended.message = message
        reply(to: member.peer, requestID: 0, .subscriptionEnded(ended))
    }

    /// One `map<string, string>` entry of `Event.headers` (field 4), encoded.
    static func encodedHeader(_ key: String, _ value: String) -> [UInt8] {
        var entry: [UInt8] = [0x0A]
        DeliveryEncoder.appendVarint(UInt64(key.utf8.count), to: &entry)
        entry += key.utf8
        entry.append(0x12)
        DeliveryEncoder.appendVarint(UInt64(value.utf8.count), to: &entry)
        entry += value.utf8
        var field: [UInt8] = [4 << 3 | 2]
        DeliveryEncoder.appendVarint(UInt64(entry.count), to: &field)
        return field + entry
    }
}

extension Broker {
    /// Decides a CURVE handshake: accepted as its key (the `User-Id` every message of the
    /// connection then carries) when the credentials in force list the key.
    func decideHandshake(_ request: ZAPRequest) -> ZAPDecision {
        guard let security else { return .refuse("this broker does not authenticate connections") }
        guard let rawKey = request.curvePublicKey else {
            metrics.countRefusal(principal: "unknown", reason: "mechanism")
            return .refuse("only CURVE connections are accepted")
        }
        let key = rawKey.withUnsafeBytes { Z85.encodeKey($0) } ?? ""
        guard security.credentials.principal(forKey: key) != nil else {
            metrics.countRefusal(principal: "unknown", reason: "unknown_key")
            if now - lastHandshakeRefusalLog >= .milliseconds(1000) {
                lastHandshakeRefusalLog = now
                logger.warning("connection refused: unknown client key", metadata: ["key": "\(key)", "address": "\(request.address)"])
            }
            return .refuse("unknown client key")
        }
        return .accept(userID: key)
    }
}
