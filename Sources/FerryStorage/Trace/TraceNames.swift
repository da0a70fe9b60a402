import Synchronization

/// The names trace records refer to by number: topics, groups, members and publishers.
///
/// The broker thread numbers each name once (``TraceNameTable``) and stages numbers, so that
/// its hot path copies, hashes and retains no string per record; the writer thread reads the
/// names back when it encodes a batch. Number 0 is the empty name. Numbers are never reused
/// within one `TraceNames`: a producer that has numbered too many starts a new one, and each
/// ``TraceBatch`` keeps the one it was staged with.
public final class TraceNames: Sendable {
    private let names = Mutex<[String]>([""])

    public init() {}

    /// Numbers `name` (the caller numbers each name once).
    func add(_ name: String) -> UInt32 {
        names.withLock { names in
            names.append(name)
            return UInt32(names.count - 1)
        }
    }

    /// Appends the names numbered from `names.count` on to `names`: the writer's copy catches
    /// up when a batch uses a number it has not seen.
    func copy(into copy: inout [String]) {
        names.withLock { names in
            if copy.count < names.count { copy.append(contentsOf: names[copy.count...]) }
        }
    }
}

/// Where an object caches the number of its name in the broker's current ``TraceNames``: a
/// number from an earlier table (``TraceNameTable/generation``) is not used.
public struct TraceNameCache: Sendable {
    var generation: UInt32 = 0
    var number: UInt32 = 0

    public init() {}

    init(generation: UInt32, number: UInt32) {
        self.generation = generation
        self.number = number
    }
}

/// The producer's side of ``TraceNames``: the number of each name it has used. One thread only.
public struct TraceNameTable {
    /// How many names a table numbers, by default, before the producer starts a new one, so
    /// that names of connections long gone do not pile up.
    public static let defaultCapacity = 65_536

    public let capacity: Int
    public private(set) var names = TraceNames()
    /// Counts the tables started; cached numbers of another generation are stale.
    public private(set) var generation: UInt32 = 1
    private var numbers: [String: UInt32] = ["": 0]

    public init(capacity: Int = Self.defaultCapacity) { self.capacity = capacity }

    /// The number of `name`, numbering it if it is new.
    public mutating func number(of name: String) -> UInt32 {
        if let known = numbers[name] { return known }
        let number = names.add(name)
        numbers[name] = number
        return number
    }

    /// The number of the name cached in `cache`, or of `name()`, cached there.
    @inline(__always)
    public mutating func number(cachedIn cache: inout TraceNameCache, _ name: () -> String) -> UInt32 {
        if cache.generation == generation { return cache.number }
        cache = TraceNameCache(generation: generation, number: number(of: name()))
        return cache.number
    }

    /// Starts a new table once this one is full. Only between batches: a batch uses one table.
    public mutating func renewIfFull() {
        guard numbers.count >= capacity else { return }
        names = TraceNames()
        numbers = ["": 0]
        generation &+= 1
        if generation == 0 { generation = 1 }
    }
}
