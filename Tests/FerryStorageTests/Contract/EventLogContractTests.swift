import FerryStorage
import Foundation
import Testing

/// What every ``EventLog`` promises: offsets from 0 per topic, reads from an offset up to a
/// limit, durability reported through ``EventLog/durableEnd(topic:)``, lookups by time, key and
/// id, and events above a release point kept. Each case runs on the in-memory and the durable
/// log.
@Suite("EventLog contract: append, read, durability, lookups")
struct EventLogContractTests {
    @Test("a new log is empty; an unknown topic has no events", arguments: StoreKind.allCases)
    func empty(_ kind: StoreKind) throws {
        try kind.withLog { (log: any EventLog) throws -> Void in
            #expect(log.storedBytes == 0)
            #expect(log.topics.isEmpty)
            #expect(log.bounds(topic: "nope") == 0..<0)
            #expect(log.durableEnd(topic: "nope") == 0)
            #expect(try log.read(topic: "nope", from: 0, limit: 10).isEmpty)
            #expect(log.damage(topic: "nope").isEmpty)
            #expect(log.recovery.problems.isEmpty)
        }
    }

    @Test("offsets start at 0 and increase per topic independently", arguments: StoreKind.allCases)
    func offsets(_ kind: StoreKind) throws {
        try kind.withLog { (log: any EventLog) throws -> Void in
            #expect(try log.append(topic: "a", events: [newEvent(), newEvent()]) == [0, 1])
            #expect(try log.append(topic: "b", events: [newEvent()]) == [0])
            #expect(try log.append(topic: "a", events: [newEvent(), newEvent(), newEvent()]) == [2, 3, 4])
            #expect(try log.append(topic: "b", events: [newEvent()]) == [1])
            #expect(log.bounds(topic: "a") == 0..<5)
            #expect(log.bounds(topic: "b") == 0..<2)
            #expect(Set(log.topics) == ["a", "b"])
            #expect(log.storedBytes > 0)
            #expect(log.storedBytes(topic: "a") > log.storedBytes(topic: "b"))
            #expect(log.storedBytes(topic: "a") + log.storedBytes(topic: "b") == log.storedBytes)
            #expect(log.storedBytes(topic: "none") == 0)
        }
    }

    @Test("reads return the stored events from an offset, up to a limit", arguments: StoreKind.allCases)
    func read(_ kind: StoreKind) throws {
        try kind.withLog { (log: any EventLog) throws -> Void in
            let events = (0..<6).map { NewEvent(key: "k\($0)", timestampMicros: 1_000 + Int64($0), body: body(UInt64($0) * 11)) }
            _ = try log.append(topic: "t", events: events)
            _ = try log.append(topic: "other", events: [newEvent(9, size: 3)])
            let all = try log.read(topic: "t", from: 0, limit: 100)
            #expect(all.map(\.offset) == [0, 1, 2, 3, 4, 5])
            #expect(all.map(\.key) == ["k0", "k1", "k2", "k3", "k4", "k5"])
            #expect(all.map(\.timestampMicros) == [1_000, 1_001, 1_002, 1_003, 1_004, 1_005])
            #expect(all.map { value($0.body) } == [0, 11, 22, 33, 44, 55])
            #expect(try log.read(topic: "t", from: 2, limit: 2).map(\.offset) == [2, 3])
            #expect(try log.read(topic: "t", from: 4, limit: 10).map(\.offset) == [4, 5])
            #expect(try log.read(topic: "t", from: 3, limit: .max).map(\.offset) == [3, 4, 5])
            #expect(try log.read(topic: "t", from: 6, limit: 10).isEmpty, "the next offset is not readable yet")
            #expect(try log.read(topic: "t", from: 0, limit: 0).isEmpty)
            #expect(try log.read(topic: "other", from: 0, limit: 10).map(\.body) == [[9, 9, 9]])
        }
    }

    @Test("what was appended becomes durable once flushed, and the log says so", arguments: StoreKind.allCases)
    func durability(_ kind: StoreKind) throws {
        try kind.withLog { (log: any EventLog) throws -> Void in
            _ = try log.append(topic: "t", events: (0..<10).map { item($0) })
            #expect(log.durableEnd(topic: "t") <= 10)
            #expect(waitUntilDurable(log, topic: "t", end: 10))
            #expect(log.durableEnd(topic: "t") == 10)
        }
    }

    @Test("the first offset at or after a timestamp; the end when none is", arguments: StoreKind.allCases)
    func offsetByTime(_ kind: StoreKind) throws {
        try kind.withLog { (log: any EventLog) throws -> Void in
            _ = try log.append(topic: "t", events: [100, 200, 200, 300].map { item(UInt64($0), timestamp: $0) })
            #expect(try log.offset(topic: "t", atOrAfter: 0) == 0)
            #expect(try log.offset(topic: "t", atOrAfter: 150) == 1)
            #expect(try log.offset(topic: "t", atOrAfter: 200) == 1)
            #expect(try log.offset(topic: "t", atOrAfter: 201) == 3)
            #expect(try log.offset(topic: "t", atOrAfter: 301) == 4)
        }
    }

    @Test("a key's history: its events from every topic, in offset order per topic, up to a limit", arguments: StoreKind.allCases)
    func history(_ kind: StoreKind) throws {
        try kind.withLog { (log: any EventLog) throws -> Void in
            _ = try log.append(topic: "b", events: [item(1, key: "order-1"), item(2, key: "order-2"), item(3, key: "order-1")])
            _ = try log.append(topic: "a", events: [item(4, key: "order-1")])
            let found = try log.history(key: "order-1", limit: 10)
            #expect(found.map(\.topic) == ["a", "b", "b"])
            #expect(found.map(\.event.offset) == [0, 0, 2])
            #expect(try log.history(key: "order-1", limit: 2).count == 2)
            #expect(try log.history(key: "nobody", limit: 10).isEmpty)
        }
    }

    @Test("event ids stored since a time, the most recent up to a limit, for the dedup window", arguments: StoreKind.allCases)
    func recentIDs(_ kind: StoreKind) throws {
        try kind.withLog { (log: any EventLog) throws -> Void in
            _ = try log.append(topic: "t", events: (0..<5).map { item($0, timestamp: 1_000 * Int64($0), id: "id-\($0)") })
            _ = try log.append(topic: "t", events: [item(5, timestamp: 9_000)])
            let recent = log.recentEventIDs(storedSince: 2_000, limit: 100)
            #expect(recent.map(\.id) == ["id-2", "id-3", "id-4"], "no id for an event published without one")
            #expect(recent.map(\.offset) == [2, 3, 4])
            #expect(log.recentEventIDs(storedSince: 0, limit: 2).map(\.id) == ["id-3", "id-4"])
            #expect(log.recentEventIDs(storedSince: 10_000, limit: 100).isEmpty)
        }
    }

    @Test("events at and above a release point stay readable; offsets continue", arguments: StoreKind.allCases)
    func release(_ kind: StoreKind) throws {
        try kind.withLog { (log: any EventLog) throws -> Void in
            _ = try log.append(topic: "t", events: (0..<6).map { item($0) })
            log.release(topic: "t", below: 4)
            #expect(log.bounds(topic: "t").upperBound == 6)
            #expect(try log.read(topic: "t", from: 4, limit: 10).map { value($0.body) } == [4, 5])
            #expect(try log.append(topic: "t", events: [item(6)]) == [6])
        }
    }
}
