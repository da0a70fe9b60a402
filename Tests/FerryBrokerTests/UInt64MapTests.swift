import Testing

@testable import FerryBroker

/// The broker's in-flight map agrees with a Dictionary through inserts, replacements, removals
/// and growth, and releases the values it drops.
@Suite("UInt64Map")
struct UInt64MapTests {
    final class Box {
        let value: Int
        init(_ value: Int) { self.value = value }
    }

    @Test("behaves like a Dictionary under a random mix of operations")
    func matchesDictionary() {
        let map = UInt64Map<Int>()
        var reference: [UInt64: Int] = [:]
        var generator = SystemRandomNumberGenerator()
        for step in 0..<50_000 {
            // Mostly sequential keys, as delivery ids and offsets are, with some far ones.
            let key = Bool.random(using: &generator) ? UInt64(step / 3) : UInt64.random(in: 0..<1_000_000, using: &generator)
            switch Int.random(in: 0..<3, using: &generator) {
            case 0, 1:
                map.set(key, step)
                reference[key] = step
            default:
                #expect(map.removeValue(forKey: key) == reference.removeValue(forKey: key))
            }
            if step % 5_000 == 0 {
                #expect(map.count == reference.count)
                for (key, value) in reference { #expect(map[key] == value) }
            }
        }
        #expect(Dictionary(uniqueKeysWithValues: map.entries.map { ($0.key, $0.value) }) == reference)
        #expect(map.minKey == reference.keys.min())
    }

    @Test("values are released when removed, replaced or dropped with the map")
    func releasesValues() {
        weak var removed: Box?
        weak var replaced: Box?
        weak var kept: Box?
        do {
            let map = UInt64Map<Box>()
            do {
                let first = Box(1)
                let second = Box(2)
                let third = Box(3)
                removed = first
                replaced = second
                kept = third
                map.set(1, first)
                map.set(2, second)
                map.set(3, third)
                for key in UInt64(10)..<UInt64(200) { map.set(key, Box(Int(key))) }
            }
            map.removeValue(forKey: 1)
            map.set(2, Box(22))
            #expect(removed == nil)
            #expect(replaced == nil)
            #expect(kept?.value == 3)
            #expect(map[2]?.value == 22)
        }
        #expect(kept == nil)
    }
}
