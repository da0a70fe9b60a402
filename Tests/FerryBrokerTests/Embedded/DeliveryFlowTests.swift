import FerryBroker
import FerryBrokerTesting
import FerryProtocol
import Testing

/// Credit, per-key order, dedup and members that go away, on the embedded broker.
@Suite("Delivery on a manual clock")
struct DeliveryFlowTests {
    @Test("a member holds at most max_in_flight unsettled deliveries; each ack frees one")
    func credit() throws {
        let broker = EmbeddedBroker()
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["t"], maxInFlight: 2)
        broker.connect("publisher").publish(topic: "t", (0..<5).map { ("e\($0)", "", []) })
        let first = worker.takeDeliveries()
        #expect(first.map(\.event.id) == ["e0", "e1"])
        worker.ack([first[0].deliveryID])
        #expect(worker.takeDeliveries().map(\.event.id) == ["e2"])
        worker.ack([first[1].deliveryID])
        #expect(worker.takeDeliveries().map(\.event.id) == ["e3"])
        #expect(worker.groupStats("g")?.inFlight == 2)
    }

    @Test("events with one key reach one member in publish order, the next only after the previous settled")
    func perKeyOrder() throws {
        let broker = EmbeddedBroker()
        let members = (0..<3).map { broker.connect("member-\($0)") }
        for member in members { member.subscribe(group: "g", patterns: ["orders.>"], maxInFlight: 1) }
        let keys = ["order-1", "order-2", "order-3", "order-4"]
        let publisher = broker.connect("publisher")
        for round in 0..<3 {
            publisher.publish(topic: "orders.updated", keys.map { ("\($0)-\(round)", $0, []) })
        }
        var seen: [String: [String]] = [:]
        var memberOfKey: [String: Int] = [:]
        var steps = 0
        while seen.values.map(\.count).reduce(0, +) < 12, steps < 100 {
            steps += 1
            for (index, member) in members.enumerated() {
                for delivery in member.takeDeliveries() {
                    let key = delivery.event.key
                    #expect(memberOfKey[key, default: index] == index, "key \(key) moved between members")
                    memberOfKey[key] = index
                    seen[key, default: []].append(delivery.event.id)
                    member.ack([delivery.deliveryID])
                }
            }
        }
        for key in keys { #expect(seen[key] == (0..<3).map { "\(key)-\($0)" }) }
    }

    @Test("a republished id is confirmed with its first offset and delivered once, until the dedup window passed")
    func dedupWindow() throws {
        var configuration = BrokerConfiguration()
        configuration.dedupWindowMilliseconds = 10_000
        let broker = EmbeddedBroker(configuration: configuration)
        let worker = broker.connect("worker")
        worker.subscribe(group: "g", patterns: ["t"])
        let publisher = broker.connect("publisher")
        #expect(publisher.publish(topic: "t", id: "a")?.offsets == [0])
        broker.advance(by: .seconds(9))
        #expect(publisher.publish(topic: "t", id: "a")?.offsets == [0])
        #expect(worker.takeDeliveries().count == 1)
        #expect(broker.counter("ferry_events_duplicate_total") == 1)
        broker.advance(by: .seconds(2), step: .milliseconds(100))
        #expect(publisher.publish(topic: "t", id: "a")?.offsets == [1])
    }

    @Test("a member that goes silent past the peer timeout loses its deliveries to another; heartbeats keep a session")
    func silentMemberExpires() throws {
        var configuration = BrokerConfiguration()
        configuration.peerTimeoutMilliseconds = 5000
        let broker = EmbeddedBroker(configuration: configuration)
        let silent = broker.connect("silent")
        let alive = broker.connect("alive")
        silent.subscribe(group: "g", patterns: ["t"], maxInFlight: 1)
        broker.connect("publisher").publish(topic: "t", id: "a")
        let held = try #require(silent.takeDeliveries().first)
        alive.subscribe(group: "g", patterns: ["t"], maxInFlight: 1)
        for _ in 0..<6 {
            broker.advance(by: .seconds(1), step: .milliseconds(100))
            alive.send(.heartbeat(Heartbeat()))
        }
        let moved = try #require(alive.takeDeliveries().first)
        #expect(moved.event.id == held.event.id)
        #expect(moved.attempt == 2)
        #expect(alive.groupStats("g")?.members == 1)
        // The silent member's connection and the publisher's (silent since its one publish).
        #expect(broker.counter("ferry_peers_expired_total") == 2)
    }

    @Test("a member whose connection the socket no longer knows is removed at once")
    func unreachableMemberLeaves() throws {
        let broker = EmbeddedBroker()
        let gone = broker.connect("gone")
        let other = broker.connect("other")
        gone.subscribe(group: "g", patterns: ["t"], maxInFlight: 1)
        other.subscribe(group: "g", patterns: ["t"], maxInFlight: 1)
        gone.disconnect()
        other.disconnect()
        let publisher = broker.connect("publisher")
        publisher.publish(topic: "t", [("a", "", []), ("b", "", [])])
        // Both deliveries failed to route: both members are gone, the events wait in the group.
        broker.advance(by: .milliseconds(10))
        #expect(publisher.groupStats("g")?.members == 0)
        #expect(broker.counter("ferry_peers_disconnected_total") == 2)
        let fresh = broker.connect("fresh")
        fresh.subscribe(group: "g", patterns: ["t"])
        broker.advance(by: .milliseconds(10))
        #expect(Set(fresh.takeDeliveries().map(\.event.id)) == ["a", "b"])
    }
}
