import Testing

@testable import FerryStorage

/// A save that keeps failing is held as one merged change set: it must save exactly what the
/// batches would have saved one after the other, and stay as small as what they touch.
@Suite("GroupStateChanges.merged")
struct GroupStateMergeTests {
    @Test("merged batches save what the batches save in order, with one entry per group, cursor and retry", arguments: [1, 2, 3])
    func mergedEqualsSequential(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var batches: [GroupStateChanges] = []
        for _ in 0..<200 {
            var changes = GroupStateChanges()
            for _ in 0..<random.next(upTo: 3) {
                let name = "g\(random.next(upTo: 3))"
                changes.groups.append(
                    GroupDefinition(
                        name: name, patterns: ["t\(random.next(upTo: 9))"], policy: "{}", startAtLatest: random.next(upTo: 2) == 0))
            }
            for _ in 0..<random.next(upTo: 4) {
                changes.cursors.append(
                    CursorState(
                        group: "g\(random.next(upTo: 3))", topic: "t\(random.next(upTo: 2))", next: random.next(upTo: 1000), inFlight: []))
            }
            for _ in 0..<random.next(upTo: 5) {
                let offset: UInt64 = random.next(upTo: 6)
                let origin: RetryOrigin = random.next(upTo: 2) == 0 ? .cursor : .requeuedDeadLetter
                if random.next(upTo: 2) == 0 {
                    changes.addRetry(
                        GroupStateFixture.retry("g0", "t0", offset, origin: origin, attempt: UInt32(random.next(upTo: 9)), error: "e"))
                } else {
                    changes.removeRetry(RetryID(group: "g0", topic: "t0", offset: offset, origin: origin))
                }
            }
            batches.append(changes)
        }
        var sequential = GroupStateSnapshot()
        for changes in batches { sequential.apply(changes) }
        var merged = GroupStateSnapshot()
        let one = GroupStateChanges.merged(batches)
        merged.apply(one)
        expectSameState(merged, sequential)
        #expect(one.groups.count <= 3 && one.cursors.count <= 6 && one.retryChanges.count <= 12)
    }

    @Test("nothing to merge is no change")
    func empty() {
        #expect(GroupStateChanges.merged([]).isEmpty)
    }
}

/// A small deterministic generator (SplitMix64), so a failing seed can be replayed.
private struct SeededRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next(upTo bound: UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return (value ^ (value >> 31)) % bound
    }

    mutating func next(upTo bound: Int) -> Int { Int(next(upTo: UInt64(bound))) }
}
