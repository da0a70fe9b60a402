import FerryBroker
import FerryBrokerTesting
import FerryProtocol
import Testing

/// Sessions, heartbeats and the no-session notice (proto/README.md 10.4), and ephemeral groups'
/// lifetime, on the embedded broker.
@Suite("Sessions and ephemeral groups on a manual clock")
struct SessionTests {
    private static func heartbeats(_ client: EmbeddedClient) -> [Heartbeat] {
        client.take { if case .heartbeat = $0.reply { true } else { false } }.compactMap {
            if case .heartbeat(let heartbeat) = $0.reply { heartbeat } else { nil }
        }
    }

    @Test("a session's heartbeats get no notice; after Goodbye every heartbeat does, with the run's broker id")
    func goodbyeEndsTheSession() throws {
        var configuration = BrokerConfiguration()
        configuration.heartbeatIntervalMilliseconds = 200
        let broker = EmbeddedBroker(configuration: configuration)
        let client = broker.connect("client")
        let welcome = try #require(client.hello())
        client.send(.heartbeat(Heartbeat()))
        broker.advance(by: .milliseconds(450), step: .milliseconds(50))
        let beats = Self.heartbeats(client)
        #expect(beats.count == 2, "one every 200 ms of silence")
        #expect(beats.allSatisfy { !$0.noSession && $0.brokerID == welcome.brokerID })
        client.send(.goodbye(Goodbye()))
        for _ in 0..<2 {
            client.send(.heartbeat(Heartbeat()))
            let notice = try #require(Self.heartbeats(client).first)
            #expect(notice.noSession, "a heartbeat of a connection whose session ended")
            #expect(notice.brokerID == welcome.brokerID)
        }
    }

    @Test("a subscriber silent past the peer timeout is told at its next settle (once per interval) and heartbeat, until it subscribes")
    func expiredSubscriberIsTold() throws {
        var configuration = BrokerConfiguration()
        configuration.heartbeatIntervalMilliseconds = 3000
        configuration.peerTimeoutMilliseconds = 500
        let broker = EmbeddedBroker(configuration: configuration)
        let admin = broker.connect("admin")
        admin.hello()
        let worker = broker.connect("worker")
        worker.subscribe(group: "mailer", patterns: ["orders.>"])
        broker.advance(by: .milliseconds(450), step: .milliseconds(50))
        admin.send(.heartbeat(Heartbeat()))
        broker.advance(by: .milliseconds(150), step: .milliseconds(50))
        #expect(admin.groupStats("mailer")?.members == 0, "the silent worker's session ended")

        // Back from its stall, the worker acks what it held: the first settle gets a notice,
        // the rest of the burst (within one interval) nothing.
        for deliveryID in 1...5 { worker.ack([UInt64(deliveryID)]) }
        #expect(Self.heartbeats(worker).map(\.noSession) == [true])
        #expect(broker.counter("ferry_no_session_notices_total") == 1)
        // A heartbeat is always answered.
        worker.send(.heartbeat(Heartbeat()))
        #expect(Self.heartbeats(worker).map(\.noSession) == [true])
        // Subscribing again starts a session: its heartbeats are no longer answered with notices.
        worker.subscribe(group: "mailer", patterns: ["orders.>"])
        worker.send(.heartbeat(Heartbeat()))
        #expect(Self.heartbeats(worker).isEmpty)
        #expect(broker.counter("ferry_no_session_notices_total") == 2)
    }

    @Test("an ephemeral group gets a generated name, shows in Stats, and goes after Unsubscribe and after Goodbye")
    func ephemeralLifetime() throws {
        let broker = EmbeddedBroker()
        let tail = broker.connect("tail")
        let admin = broker.connect("admin")
        guard case .subscribed(let subscribed)? = tail.subscribe(group: "", patterns: ["t"], ephemeral: true) else {
            Issue.record("no Subscribed")
            return
        }
        #expect(subscribed.group.hasPrefix("ephemeral-"))
        let group = try #require(admin.groupStats(subscribed.group))
        #expect(group.ephemeral)
        #expect(group.members == 1)
        // A durable Subscribe cannot take the ephemeral group's name, nor the reverse.
        #expect(admin.subscribe(group: subscribed.group, patterns: ["t"])?.errorCode == .invalidArgument)
        admin.subscribe(group: "durable", patterns: ["t"])
        #expect(tail.subscribe(group: "durable", patterns: ["t"], ephemeral: true)?.errorCode == .invalidArgument)

        var unsubscribe = Unsubscribe()
        unsubscribe.subscriptionID = subscribed.subscriptionID
        guard case .unsubscribed? = tail.request(.unsubscribe(unsubscribe)) else {
            Issue.record("no Unsubscribed")
            return
        }
        #expect(admin.stats()?.groups.map(\.name) == ["durable"])

        // A named ephemeral group shared by two members goes when the last one says goodbye.
        tail.subscribe(group: "watch", patterns: ["t"], ephemeral: true)
        let second = broker.connect("second")
        second.subscribe(group: "watch", patterns: ["t"], ephemeral: true)
        #expect(admin.groupStats("watch")?.members == 2)
        tail.send(.goodbye(Goodbye()))
        #expect(admin.groupStats("watch")?.members == 1)
        second.send(.goodbye(Goodbye()))
        #expect(admin.stats()?.groups.map(\.name) == ["durable"])
    }
}
