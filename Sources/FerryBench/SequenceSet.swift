/// A growable bitmap of the sequence numbers a consumer received, to count each event once and
/// find duplicates and gaps.
struct SequenceSet: Sendable {
    private var words: [UInt64] = []
    private(set) var count = 0

    /// Inserts `sequence`; returns false if it was already there.
    mutating func insert(_ sequence: UInt64) -> Bool {
        let word = Int(sequence >> 6)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: max(word + 1 - words.count, words.count))) }
        let bit: UInt64 = 1 << (sequence & 63)
        if words[word] & bit != 0 { return false }
        words[word] |= bit
        count += 1
        return true
    }

    /// Adds every member of `other`; returns how many were already here.
    mutating func formUnion(_ other: SequenceSet) -> Int {
        if other.words.count > words.count { words.append(contentsOf: repeatElement(0, count: other.words.count - words.count)) }
        var overlap = 0
        for index in other.words.indices {
            overlap += (words[index] & other.words[index]).nonzeroBitCount
            words[index] |= other.words[index]
        }
        count += other.count - overlap
        return overlap
    }
}
