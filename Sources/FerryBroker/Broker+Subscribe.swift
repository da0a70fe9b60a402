import FerryProtocol
import FerryStorage
import Logging
import Metrics

extension Broker {
    func handleSubscribe(_ subscribe: Subscribe, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        if isShuttingDown { throw ProtocolError(.shuttingDown, "the broker is shutting down") }
        var subscribe = subscribe
        let named = !subscribe.group.isEmpty
        if subscribe.ephemeral && !named { subscribe.group = ephemeralGroupName() }
        let patterns = try validate(subscribe, named: named, from: peer)
        let credit =
            subscribe.maxInFlight == 0
            ? configuration.defaultMaxInFlight : min(Int(subscribe.maxInFlight), configuration.maxMaxInFlight)

        let isNew = groups[subscribe.group] == nil
        let group = groups[subscribe.group] ?? createGroup(subscribe, owner: peer.principal?.name)
        let cursorsBefore = group.cursors.count
        peer.isSession = true
        peer.nextSubscriptionID += 1
        let member = Member(
            peer: peer, group: group, subscriptionID: peer.nextSubscriptionID, name: subscribe.memberName,
            patterns: patterns, maxInFlight: credit)
        peer.subscriptions[member.subscriptionID] = member
        group.add(member)
        for topic in knownTopics where group.cursors[topic] == nil && member.matches(topic) {
            let bounds = log.bounds(topic: topic)
            group.cursors[topic] = TopicCursor(topic: topic, start: group.startAtLatest ? bounds.upperBound : bounds.lowerBound)
        }

        var subscribed = Subscribed()
        subscribed.subscriptionID = member.subscriptionID
        subscribed.effectiveRetry = group.policy.wire
        subscribed.maxInFlight = UInt32(credit)
        subscribed.group = group.name
        if group.ephemeral {
            reply(to: peer, requestID: requestID, .subscribed(subscribed))
        } else {
            // A durable group exists after any crash or power cut once its member is told it
            // subscribed: the reply waits until its definition and cursors are on disk.
            let changed = isNew || group.definitionChanged || group.cursors.count > cursorsBefore
            holdUntilGroupStateIsDurable(member, requestID: requestID, reply: .subscribed(subscribed), saving: changed)
        }
        logger.info(
            "member joined",
            metadata: [
                "group": "\(group.name)", "member": "\(subscribe.memberName)", "peer": "\(peer.id)",
                "patterns": "\(subscribe.patterns.joined(separator: ","))", "credit": "\(credit)",
            ])
    }

    /// Checks a Subscribe against the limits and the group it names; returns its patterns.
    private func validate(_ subscribe: Subscribe, named: Bool, from peer: Peer) throws(ProtocolError) -> [TopicPattern] {
        try configuration.limits.validateGroup(subscribe.group)
        let patterns = try validatePatterns(subscribe, from: peer)
        // Before anything about existing groups is said: a refusal reveals nothing of them.
        try authorizeSubscription(patterns, group: subscribe.group, ephemeral: subscribe.ephemeral, named: named, from: peer)
        if let existing = groups[subscribe.group], existing.ephemeral != subscribe.ephemeral {
            throw ProtocolError(
                .invalidArgument,
                "group '\(subscribe.group)' exists and is \(existing.ephemeral ? "ephemeral" : "durable"); "
                    + "subscribe \(existing.ephemeral ? "with" : "without") ephemeral, or use another name")
        }
        if subscribe.memberName.utf8.count > Self.maxNameBytes {
            throw ProtocolError(
                .invalidArgument, "subscribe.member_name is \(subscribe.memberName.utf8.count) bytes; the limit is \(Self.maxNameBytes)")
        }
        if peer.subscriptions.count >= Self.maxSubscriptionsPerConnection {
            throw ProtocolError(
                .batchTooLarge, "this connection holds \(peer.subscriptions.count) subscriptions, the most one may; unsubscribe first")
        }
        if let existing = groups[subscribe.group] {
            let added = existing.newPatternCount(patterns)
            if added > 0 && existing.patterns.count + added > configuration.limits.maxPatternsPerGroup {
                throw ProtocolError(
                    .batchTooLarge,
                    "group '\(subscribe.group)' follows \(existing.patterns.count) patterns and this adds \(added); a group follows at most \(configuration.limits.maxPatternsPerGroup)"
                )
            }
        } else if groups.count >= configuration.maxGroups {
            throw ProtocolError(
                .resourceExhausted, "the broker holds \(groups.count) consumer groups, its limit (max_groups); use an existing group")
        }
        return patterns
    }

    /// The patterns of a Subscribe, each checked against the limits and the syntax.
    private func validatePatterns(_ subscribe: Subscribe, from peer: Peer) throws(ProtocolError) -> [TopicPattern] {
        if subscribe.patterns.isEmpty { throw ProtocolError(.missingField, "subscribe.patterns needs at least one topic pattern") }
        try configuration.limits.validatePatternCount(subscribe.patterns.count)
        var patterns: [TopicPattern] = []
        for pattern in subscribe.patterns {
            if pattern.utf8.count > configuration.limits.maxTopicBytes {
                throw ProtocolError(
                    .invalidArgument,
                    "a pattern is \(pattern.utf8.count) bytes; the limit is \(configuration.limits.maxTopicBytes), as for topics")
            }
            patterns.append(try TopicPattern(pattern))
        }
        return patterns
    }

    private func createGroup(_ subscribe: Subscribe, owner: String?) -> ConsumerGroup {
        let policy =
            configuration.groupRetryPolicies[subscribe.group]
            ?? (subscribe.hasRetry
                ? RetryPolicy(wire: subscribe.retry, defaults: configuration.defaultRetryPolicy) : configuration.defaultRetryPolicy)
        let group = ConsumerGroup(
            name: subscribe.group, policy: policy, startAtLatest: subscribe.start == .startLatest, ephemeral: subscribe.ephemeral)
        if subscribe.ephemeral { group.owner = owner }
        groups[subscribe.group] = group
        return group
    }

    /// A fresh name for an ephemeral group whose subscriber gave none.
    private func ephemeralGroupName() -> String {
        while true {
            let name = "ephemeral-" + String(UInt64.random(in: .min ... .max, using: &random), radix: 16)
            if groups[name] == nil { return name }
        }
    }

    func handleUnsubscribe(_ unsubscribe: Unsubscribe, from peer: Peer, requestID: UInt64) throws(ProtocolError) {
        guard let member = peer.subscriptions[unsubscribe.subscriptionID] else {
            throw ProtocolError(.unknownSubscription, "subscription \(unsubscribe.subscriptionID) is not one of this connection's")
        }
        if unsubscribe.drain && member.inFlight > 0 {
            member.draining = true
            member.group.membershipChanged()
        } else {
            remove(member, reason: "unsubscribed")
        }
        var unsubscribed = Unsubscribed()
        unsubscribed.subscriptionID = unsubscribe.subscriptionID
        reply(to: peer, requestID: requestID, .unsubscribed(unsubscribed))
    }

    /// Forgets a peer; what it held in flight goes back to its groups for redelivery.
    func removePeer(_ peer: Peer, reason: String, releasing: Bool = false) {
        for member in peer.subscriptions.values { remove(member, reason: reason, releasing: releasing) }
        peers.removeValue(forKey: peer.id)
        metrics.peers.record(peers.count)
    }

    /// Removes a member from its group and hands its unsettled deliveries to the others.
    /// With `releasing`, the deliveries go back as a release would send them (at once, with the
    /// same attempt): the member did not fail them, the broker took them away.
    func remove(_ member: Member, reason: String, releasing: Bool = false) {
        let peer = member.peer
        let lost = peer.inFlight.entries.filter { $0.value.member === member }
        for (deliveryID, delivery) in lost.sorted(by: { $0.value.offset < $1.value.offset }) {
            peer.inFlight.removeValue(forKey: deliveryID)
            member.inFlight -= 1
            traceOutcome(.memberLost, of: delivery, detail: reason)
            if releasing {
                schedule(
                    RetryEntry(
                        due: now, topic: delivery.topic, offset: delivery.offset, key: delivery.key, attempt: delivery.attempt,
                        body: delivery.retryBody, lastError: "", origin: delivery.origin), in: member.group)
                continue
            }
            fail(
                delivery, error: "member \(member.name.isEmpty ? "\(peer.id)" : member.name) left (\(reason))", delayMilliseconds: 0,
                poison: false)
        }
        peer.subscriptions.removeValue(forKey: member.subscriptionID)
        let group = member.group
        group.remove(member)
        logger.info(
            "member left",
            metadata: ["group": "\(group.name)", "member": "\(member.name)", "reason": "\(reason)", "redelivering": "\(lost.count)"])
        if group.ephemeral && group.members.isEmpty {
            // Its last member left: an ephemeral group, its cursors and retries go with it.
            if let tracer {
                for retry in group.retries.entries {
                    tracer.record(
                        TraceRecord(
                            kind: .deadLettered, timeMicros: wallNow, topic: retry.topic, offset: retry.offset, group: group.name,
                            attempt: max(retry.attempt, 1) - 1, detail: "dropped (an ephemeral group has no dead-letter queue): its last member left"))
                }
            }
            groups.removeValue(forKey: group.name)
            logger.info("ephemeral group removed", metadata: ["group": "\(group.name)"])
        }
    }
}
