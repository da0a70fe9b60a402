import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// ferryd stopped for longer than the peer timeout (SIGSTOP, a paused VM) while its clients
/// kept talking. Synchronous helpers: the raw sockets are confined to one thread.
@Suite("A stalled ferryd does not hold its own stall against its peers", .serialized, .timeLimit(.minutes(1)))
struct StallTests {
    @Test("sessions whose heartbeats queued up while ferryd was stopped survive SIGCONT")
    func stallIsForgiven() async throws {
        let ferryd = try await Ferryd(["--peer-timeout-ms", "1000", "--heartbeat-ms", "200"])
        try await onOwnThread { try Self.stall(ferryd, rounds: 3) }
    }

    private static func stall(_ ferryd: Ferryd, rounds: Int) throws {
        let client = try RawClient(endpoint: ferryd.endpoint)
        var subscribe = Subscribe()
        subscribe.group = "mailer"
        subscribe.patterns = ["orders.>"]
        _ = try client.subscribe(.subscribe(subscribe))
        for round in 1...rounds {
            // Stopped for 1.5 peer timeouts while the client heartbeats as it should. The stall's
            // length is the scenario, not a wait for readiness.
            ferryd.process.send(SIGSTOP)
            for _ in 0..<15 {
                try client.send(.heartbeat(Heartbeat()), requestID: 0)
                Thread.sleep(forTimeInterval: 0.1)
            }
            ferryd.process.send(SIGCONT)
            try client.send(.heartbeat(Heartbeat()), requestID: 0)
            // ferryd counts the stall on a loop pass after SIGCONT: wait for it, so that the next
            // stop is a stall of its own rather than part of this one.
            let counted = try Wait.untilSync(timeout: .seconds(5)) {
                try client.stats().counter("ferry_loop_stalls_total") == Double(round)
            }
            #expect(counted, "stall \(round) was not counted")
            let stats = try client.stats()
            #expect(stats.groups.first { $0.name == "mailer" }?.members == 1, "the session was ended during the stall")
        }
        let stats = try client.stats()
        #expect(stats.counter("ferry_peers_expired_total") ?? 0 == 0, "\(stats.prometheusText)")
        #expect(stats.counter("ferry_loop_stalls_total") == Double(rounds), "\(stats.prometheusText)")
    }
}
