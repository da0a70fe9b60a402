import FerryTestSupport
import Foundation
import Testing

@Suite("ferry tail", .serialized, .timeLimit(.minutes(2)))
struct TailTests {
    let fixture: CLIFixture

    init() async throws {
        fixture = try await CLIFixture()
    }

    @Test("tail --from beginning prints what the topics hold; --json gives JSON lines; no group is left behind")
    func fromBeginning() async throws {
        for (topic, payload) in [("orders.created", #"{"n":1}"#), ("orders.paid", #"{"n":2}"#), ("users.signed-up", #"{"n":3}"#)] {
            #expect(try await fixture.ferry("publish", topic, payload, "--key", "k\(topic.count)").status == 0)
        }
        let json = try await fixture.ferry("tail", "orders.*", "--from", "beginning", "--count", "2", "--json")
        #expect(json.status == 0, "\(json.stderr)")
        let events = try json.jsonLines()
        #expect(Set(events.compactMap { $0["topic"] as? String }) == ["orders.created", "orders.paid"])
        #expect(events.allSatisfy { $0.int("offset") == 0 && $0.int("attempt") == 1 && $0["payload"] is [String: Any] })

        let human = try await fixture.ferry("tail", ">", "--from", "beginning", "--count", "3")
        #expect(human.status == 0, "\(human.stderr)")
        #expect(human.lines.count == 3)
        #expect(human.stdout.contains(#"users.signed-up#0 key=k15 {"n":3}"#))

        #expect(await Wait.until(timeout: .seconds(5)) { (try? await fixture.groups().isEmpty) == true })
    }

    @Test("a live tail sees new events only, shows as an ephemeral group while it runs, and leaves none")
    func live() async throws {
        #expect(try await fixture.ferry("publish", "orders.created", #"{"old":true}"#).status == 0)
        let tail = try fixture.start("tail", "orders.>", "--count", "2", "--group", "watcher")
        #expect(
            await Wait.until(timeout: .seconds(10)) {
                guard let group = try? await fixture.group("watcher") else { return false }
                return group["ephemeral"] as? Bool == true && group.int("members") == 1
            })
        #expect(try await fixture.ferry("publish", "orders.created", #"{"new":1}"#).status == 0)
        #expect(try await fixture.ferry("publish", "orders.shipped", #"{"new":2}"#, "--header", "carrier=ups").status == 0)
        let result = try await tail.finish(timeout: .seconds(10))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.lines.count == 2)
        #expect(result.lines.first?.contains(#"orders.created#1 {"new":1}"#) == true)
        #expect(result.lines.last?.contains(#"orders.shipped#0 [carrier=ups] {"new":2}"#) == true)
        #expect(!result.stdout.contains("old"))
        // Gone at once (the tail unsubscribed), not after a peer timeout.
        #expect(await Wait.until(timeout: .seconds(3)) { (try? await fixture.group("watcher")) == nil })
    }

    @Test("SIGINT ends a tail with status 0 and removes its group")
    func interrupt() async throws {
        let tail = try fixture.start("tail", ">")
        #expect(await Wait.until(timeout: .seconds(10)) { (try? await fixture.groups().count) == 1 })
        tail.interrupt()
        let result = try await tail.finish(timeout: .seconds(10))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(await Wait.until(timeout: .seconds(3)) { (try? await fixture.groups().isEmpty) == true })
    }
}
