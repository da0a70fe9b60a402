import FerryTestSupport
import Foundation
import Testing

@Suite("ferry error paths: unreachable broker, unknown group", .timeLimit(.minutes(2)))
struct ErrorPathTests {
    @Test(
        "every command gives up on an unreachable broker within --timeout, exit 69",
        arguments: [
            ["stats"], ["groups"], ["publish", "orders.created", "{}"], ["tail", "orders.>"], ["dlq", "list", "email"],
            ["dlq", "requeue", "email", "--all"], ["replay", "email", "--from", "end"], ["history", "order-42"],
        ])
    func unreachable(_ command: [String]) async throws {
        // Port 1 on loopback: nothing listens there, and ZeroMQ keeps retrying in the background.
        let result = try await CLIProcess.run(command + ["--broker", "tcp://127.0.0.1:1", "--timeout", "1"], timeout: .seconds(10))
        #expect(result.status == 69, "\(command): \(result.stderr)")
        // The message shows which timeout applied; the elapsed bound only catches a hang (the
        // default --timeout is 5 s, and under the parallel suite a process can take seconds to
        // start, so a tighter bound would time the machine, not ferry).
        #expect(result.stderr.contains("ferryd at tcp://127.0.0.1:1 did not answer within 1 s"))
        #expect(result.elapsed < .seconds(9), "\(command) took \(result.elapsed)")
    }

    @Test("FERRY_BROKER names the broker when --broker is absent")
    func environment() async throws {
        let result = try await CLIProcess.run(["stats", "--timeout", "1"], environment: ["FERRY_BROKER": "tcp://127.0.0.1:1"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("tcp://127.0.0.1:1"))
        let ferryd = try await Ferryd()
        let reachable = try await CLIProcess.run(["stats", "--json"], environment: ["FERRY_BROKER": ferryd.endpoint])
        #expect(reachable.status == 0, "\(reachable.stderr)")
        #expect((try reachable.json() as? [String: Any])?["connections"] != nil)
    }

    @Test("a malformed --broker is a usage error")
    func badEndpoint() async throws {
        let result = try await CLIProcess.run(["stats", "--broker", "localhost"])
        #expect(result.status == 64)
    }

    @Test("dlq and replay on a group ferryd never saw exit 2 with UNKNOWN_GROUP")
    func unknownGroup() async throws {
        let fixture = try await CLIFixture()
        for command in [
            ["dlq", "list", "nope"], ["dlq", "show", "nope", "1"], ["dlq", "requeue", "nope", "--id", "1"],
            ["dlq", "purge", "nope", "--all"],
            ["replay", "nope", "--from", "beginning"], ["groups", "nope"],
        ] {
            let result = try await CLIProcess.run(command + ["--broker", fixture.ferryd.endpoint])
            #expect(result.status == 2, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("no consumer group named 'nope'"), "\(command): \(result.stderr)")
        }
        let stats = try await fixture.ferry("stats", "--prometheus")
        #expect(stats.stdout.contains(#"ferry_protocol_errors_total{code="UNKNOWN_GROUP"} 5"#))
    }
}
