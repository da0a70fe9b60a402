import Ferry
import FerryTestSupport
import Foundation
import Logging
import Testing

@testable import FerryHTTP

/// HTTP members that stop fetching expire like a silent peer; the clock is the test's.
@Suite("HTTP members: expiry")
struct MemberExpiryTests {
    @Test("a member idle past its timeout is removed (not one that is fetching); what it held goes to another member as a failed attempt")
    func expiry() async throws {
        let ferryd = try await Ferryd(["--storage", "memory"])
        let bus = try EventBus(configuration: ClientConfiguration(endpoint: ferryd.endpoint))
        let members = HTTPMembers(timeout: .seconds(30))
        let consumer = try await members.acquire(group: "g", member: "m1", principal: "local") { () throws(APIError) in
            try await APIError.mapping { () throws(FerryError) in try await bus.consumer(group: "g", patterns: ["expiry"]) }
        }
        members.done(group: "g", member: "m1")
        // Idle from here: a slow fetch below must not count against it.
        let start = ContinuousClock.now
        _ = try await bus.publish(raw: [RawEvent(topic: "expiry", id: "held", payload: Data("{}".utf8))])
        let held = try await consumer.fetch(max: 1, wait: .seconds(10))
        #expect(held.map(\.event.id) == ["held"])

        #expect(await members.expire(now: start + .seconds(29)) == 0, "not idle long enough")
        // A member with a fetch waiting is never expired.
        _ = try await members.acquire(group: "g", member: "m1", principal: "local") { () throws(APIError) in consumer }
        #expect(await members.expire(now: start + .seconds(120)) == 0)
        members.done(group: "g", member: "m1")
        #expect(await members.expire(now: .now + .seconds(31)) == 1)
        #expect(members.count == 0)

        let other = try await bus.consumer(group: "g", patterns: ["expiry"])
        let redelivered = try await other.fetch(max: 1, wait: .seconds(10))
        #expect(redelivered.map(\.event.id) == ["held"])
        #expect(redelivered.first?.attempt == 2, "the expired member's delivery counts as a failed attempt")
        await other.close()
        await bus.close()
    }

    @Test("a member name belongs to the principal that made it")
    func ownership() async throws {
        let ferryd = try await Ferryd(["--storage", "memory"])
        let bus = try EventBus(configuration: ClientConfiguration(endpoint: ferryd.endpoint))
        let members = HTTPMembers()
        _ = try await members.acquire(group: "g", member: "mine", principal: "alice") { () throws(APIError) in
            try await APIError.mapping { () throws(FerryError) in try await bus.consumer(group: "g", patterns: ["own"]) }
        }
        members.done(group: "g", member: "mine")
        await #expect(throws: APIError.self) {
            _ = try await members.acquire(group: "g", member: "mine", principal: "mallory") { () throws(APIError) in
                throw APIError.invalid("must not be made")
            }
        }
        #expect(throws: APIError.self) { try members.existing(group: "g", member: "mine", principal: "mallory") }
        await members.closeAll()
        await bus.close()
    }
}
