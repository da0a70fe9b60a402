import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// A connection without a session is told so (proto/README.md 10.4): a client whose session
/// ended while it was stalled learns that its subscriptions are gone instead of waiting forever.
/// Synchronous helpers, each on a thread of its own: the raw sockets are confined to one thread.
@Suite("ferryd tells a connection it holds no session for", .serialized, .timeLimit(.minutes(1)))
struct SessionNoticeTests {
    @Test("a session's heartbeats get no notice; after Goodbye every heartbeat does, with the run's broker id")
    func goodbyeEndsTheSession() async throws {
        let ferryd = try await Ferryd(["--heartbeat-ms", "200"])
        try await onOwnThread { try Self.goodbyeEndsTheSession(ferryd.endpoint) }
    }

    private static func goodbyeEndsTheSession(_ endpoint: String) throws {
        let client = try RawClient(endpoint: endpoint)
        try client.send(.hello(Hello()))
        guard case .welcome(let welcome)? = try client.receive()?.reply else {
            Issue.record("no Welcome")
            return
        }
        try client.send(.heartbeat(Heartbeat()), requestID: 0)
        // The broker's own heartbeats (every 200 ms) come; none of them says the session is gone.
        for _ in 0..<2 {
            let heartbeat = try #require(try client.receiveHeartbeat(timeout: .seconds(5)))
            #expect(!heartbeat.noSession)
            #expect(heartbeat.brokerID == welcome.brokerID)
        }
        try client.send(.goodbye(Goodbye()), requestID: 0)
        for _ in 0..<2 {
            try client.send(.heartbeat(Heartbeat()), requestID: 0)
            let notice = try #require(try client.receiveHeartbeat(timeout: .seconds(5)))
            #expect(notice.noSession, "a heartbeat of a connection whose session ended")
            #expect(notice.brokerID == welcome.brokerID)
        }
    }

    @Test("a subscriber silent past the peer timeout is told at its next settle (once per interval) and heartbeat, until it subscribes")
    func expiredSubscriberIsTold() async throws {
        let ferryd = try await Ferryd(["--heartbeat-ms", "3000", "--peer-timeout-ms", "500"])
        try await onOwnThread { try Self.expiredSubscriberIsTold(ferryd.endpoint) }
    }

    private static func expiredSubscriberIsTold(_ endpoint: String) throws {
        let admin = try RawClient(endpoint: endpoint)
        try admin.send(.hello(Hello()))
        _ = try #require(try admin.receive())
        let worker = try RawClient(endpoint: endpoint)
        var subscribe = Subscribe()
        subscribe.group = "mailer"
        subscribe.patterns = ["orders.>"]
        _ = try worker.subscribe(.subscribe(subscribe))

        // The worker stalls (sends nothing); the admin keeps its own session alive meanwhile.
        let expired = try Wait.untilSync(timeout: .seconds(10)) {
            try admin.send(.heartbeat(Heartbeat()), requestID: 0)
            return try admin.stats().groups.first { $0.name == "mailer" }?.members == 0
        }
        try #require(expired, "ferryd did not end the silent worker's session")

        // Back from its stall, the worker acks what it held: the broker answers the first
        // settle with a notice and the rest of the burst (within one interval) with nothing.
        for deliveryID in 1...5 {
            var settle = Settle()
            settle.acks = [UInt64(deliveryID)]
            try worker.send(.settle(settle), requestID: 0)
        }
        let notice = try #require(try worker.receiveHeartbeat(timeout: .seconds(5)))
        #expect(notice.noSession)
        // The worker's own round trip: its whole burst has been handled by then.
        #expect(try worker.stats().counter("ferry_no_session_notices_total") == 1)
        // A heartbeat is always answered.
        try worker.send(.heartbeat(Heartbeat()), requestID: 0)
        #expect(try worker.receiveHeartbeat(timeout: .seconds(5))?.noSession == true)

        // Subscribing again starts a session: its heartbeats are no longer answered with notices.
        _ = try worker.subscribe(.subscribe(subscribe))
        try worker.send(.heartbeat(Heartbeat()), requestID: 0)
        let stats = try worker.stats()
        #expect(stats.counter("ferry_no_session_notices_total") == 2, "\(stats.prometheusText)")
    }
}
