import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One file of a topic's log, holding the events from `baseOffset` on, with a sparse
/// in-memory index (offset → file position, timestamp) every ``indexInterval`` bytes.
final class Segment {
    struct IndexEntry {
        let offset: UInt64
        let position: Int
        let timestamp: Int64
    }

    /// What opening a segment found and repaired.
    struct Recovery {
        var records = 0
        var truncatedBytes = 0
        /// Corrupt regions skipped in the middle of a segment.
        var corruptRecords = 0
        /// Events those regions held: the offsets missing between the records around them.
        var lostEvents = 0
        var skippedBytes = 0
        var problems: [String] = []
    }

    static let indexInterval = 4096
    /// Zeros at the end of a file after a torn record count as runway (not as torn bytes) when
    /// there are at least this many.
    static let runwayEvidence = 4096

    let baseOffset: UInt64
    let file: SegmentFile
    /// The logical size: the end of the last record. The file may be longer (zero runway past
    /// it, see ``SegmentFile``); reads and scans never go past this.
    private(set) var size: Int
    /// The offset the next appended event gets.
    private(set) var nextOffset: UInt64
    private(set) var index: [IndexEntry] = []
    private(set) var lastTimestamp: Int64 = 0
    private var lastIndexedPosition = -indexInterval
    /// Corrupt byte ranges found at recovery, by start position: reads jump over them.
    private var skips: [Int: Int] = [:]
    /// A failed append left bytes past `size` that could not be cut off yet.
    private var hasLeftovers = false
    /// When the segment was created (tests move it back to make it old enough to roll).
    var createdAt: Date

    var isEmpty: Bool { size == 0 }

    static func fileName(baseOffset: UInt64) -> String { String(format: "%020llu.log", baseOffset) }

    /// Creates an empty segment. Its first sync also syncs `directory` and its parent, which
    /// hold the new entries that lead to it.
    init(directory: URL, baseOffset: UInt64, cache: DescriptorCache? = nil) throws(StorageError) {
        self.baseOffset = baseOffset
        file = try SegmentFile(
            path: directory.appendingPathComponent(Self.fileName(baseOffset: baseOffset)).path,
            newEntriesIn: [directory.path, directory.deletingLastPathComponent().path], cache: cache)
        size = 0
        nextOffset = baseOffset
        createdAt = Date()
    }

    /// Opens an existing segment, checking every record: a torn tail is truncated, a corrupt
    /// record in the middle is skipped (and reported), never fatal. Zeros from a record boundary
    /// to the end of the file are the unused runway of an active segment (see ``SegmentFile``):
    /// a clean end, truncated silently.
    init(existing path: URL, baseOffset: UInt64, recovery: inout Recovery, cache: DescriptorCache? = nil) throws(StorageError) {
        self.baseOffset = baseOffset
        file = try SegmentFile(path: path.path, cache: cache)
        let attributes = try? FileManager.default.attributesOfItem(atPath: path.path)
        createdAt = (attributes?[.modificationDate] as? Date) ?? Date()
        size = 0
        nextOffset = baseOffset
        let fileSize = file.size
        guard fileSize > 0 else { return }
        let mapped = try file.withDescriptor { descriptor in mmap(nil, fileSize, PROT_READ, MAP_PRIVATE, descriptor, 0) }
        guard let mapping = mapped, mapping != MAP_FAILED else {
            throw StorageError.posix("mmap \(path.path)")
        }
        defer { munmap(mapping, fileSize) }
        let bytes = UnsafeRawBufferPointer(start: mapping, count: fileSize)
        var position = 0
        while position < fileSize {
            let reason: String
            switch LogRecord.parse(bytes, at: position) {
            case .record(let header):
                noteAppended(offset: header.offset, position: position, timestamp: header.timestamp)
                position += header.size
                recovery.records += 1
                continue
            case .incomplete: reason = "record runs past the end"
            case .corrupt(let text): reason = text
            }
            guard let next = try recoverDamage(in: bytes, at: position, reason: reason, name: path.lastPathComponent, recovery: &recovery)
            else { return }
            position = next
        }
        size = position
    }

    /// A record at `position` that does not parse. Zeros from there to the end are the
    /// runway past the data end (a clean end); a bad record followed by valid ones was damaged
    /// in place and is skipped (returns where to go on); one with nothing valid after it is a
    /// torn or garbled tail and is truncated, with any runway after it. Returns nil once the
    /// segment ends here.
    private func recoverDamage(
        in bytes: UnsafeRawBufferPointer, at position: Int, reason: String, name: String, recovery: inout Recovery
    ) throws(StorageError) -> Int? {
        let fileSize = bytes.count
        if Self.endOfZeros(bytes, from: position) == fileSize {
            size = position
            try file.truncate(to: position)
            return nil
        }
        if let next = Self.resynchronize(bytes, after: position, minimumOffset: nextOffset) {
            // Offsets are consecutive: the record found next says how many events the region
            // held (at least one: something stood where the damage begins).
            var lost = 1
            if case .record(let header) = LogRecord.parse(bytes, at: next) { lost = max(1, Int(clamping: header.offset - nextOffset)) }
            recovery.corruptRecords += 1
            recovery.lostEvents += lost
            recovery.skippedBytes += next - position
            skips[position] = next
            recovery.problems.append(
                "corrupt region at bytes \(position)..<\(next) of \(name) (\(reason)): skipped \(next - position) bytes, "
                    + "events at offsets \(nextOffset)..<\(nextOffset + UInt64(lost)) lost")
            return next
        }
        let zerosStart = Self.startOfTrailingZeros(bytes, after: position)
        let runway = fileSize - zerosStart >= Self.runwayEvidence ? fileSize - zerosStart : 0
        let torn = fileSize - position - runway
        recovery.truncatedBytes += torn
        recovery.problems.append(
            "torn tail at byte \(position) of \(name) (\(reason)): truncated \(torn) bytes"
                + (runway > 0 ? " and \(runway) bytes of zero runway" : ""))
        size = position
        try file.truncate(to: position)
        return nil
    }

    /// The position of the next valid record after a corrupt one, if any. Runs of zeros (the
    /// runway) are skipped 8 bytes at a time: no record starts where its length field is zero.
    private static func resynchronize(_ bytes: UnsafeRawBufferPointer, after position: Int, minimumOffset: UInt64) -> Int? {
        var candidate = position + 1
        while candidate + LogRecord.prefixSize <= bytes.count {
            if bytes.loadUnaligned(fromByteOffset: candidate, as: UInt32.self) == 0 {
                // Every position up to 4 bytes before the next non-zero byte has a zero length.
                let nonZero = endOfZeros(bytes, from: candidate)
                candidate = max(candidate + 1, nonZero - 3)
                continue
            }
            if case .record(let header) = LogRecord.parse(bytes, at: candidate), header.offset >= minimumOffset {
                return candidate
            }
            candidate += 1
        }
        return nil
    }

    /// The position of the first non-zero byte at or after `position` (`bytes.count` if none).
    static func endOfZeros(_ bytes: UnsafeRawBufferPointer, from position: Int) -> Int {
        var position = position
        while position + 8 <= bytes.count && bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self) == 0 { position += 8 }
        while position < bytes.count && bytes[position] == 0 { position += 1 }
        return position
    }

    /// Where the zeros that end `bytes` start (not before `position`).
    static func startOfTrailingZeros(_ bytes: UnsafeRawBufferPointer, after position: Int) -> Int {
        var end = bytes.count
        while end - 8 >= position && bytes.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self) == 0 { end -= 8 }
        while end > position && bytes[end - 1] == 0 { end -= 1 }
        return end
    }

    private func noteAppended(offset: UInt64, position: Int, timestamp: Int64) {
        if position - lastIndexedPosition >= Self.indexInterval {
            index.append(IndexEntry(offset: offset, position: position, timestamp: timestamp))
            lastIndexedPosition = position
        }
        nextOffset = offset + 1
        lastTimestamp = timestamp
    }

    /// Appends encoded records (`bytes`) whose offsets, relative positions and timestamps are given.
    /// Returns whether the file's runway is short (ask the ``Preallocator`` to extend it).
    /// A log that fsyncs keeps the bytes until a good sync covers them, counted in `budget`
    /// (see `SegmentFile+Sync.swift`).
    @discardableResult
    func append(
        _ bytes: [UInt8], records: [(offset: UInt64, position: Int, timestamp: Int64)], keepingWithin budget: UnsyncedBudget? = nil
    ) throws(StorageError) -> Bool {
        try cutLeftovers()
        if let budget { try file.keepUntilSynced(bytes, at: size, within: budget) }
        let wantsRunway: Bool
        do {
            wantsRunway = try file.append(bytes, at: size)
        } catch {
            // Leave no partial record behind: a later append starts clean.
            do { try file.truncate(to: size) } catch { hasLeftovers = true }
            throw error
        }
        for record in records { noteAppended(offset: record.offset, position: size + record.position, timestamp: record.timestamp) }
        size += bytes.count
        return wantsRunway
    }

    /// Cuts off what a failed append left past the last record, if an earlier cut failed: before
    /// the segment takes more records or rolls, or a crash could leave records of a refused
    /// publish for recovery to take as events. `syncing` (a log that fsyncs, at a roll or close:
    /// no later append's sync will cover the cut) syncs the new size too.
    func cutLeftovers(syncing: Bool = false) throws(StorageError) {
        guard hasLeftovers else { return }
        try file.truncate(to: size)
        if syncing { try file.sync(writtenEnd: size) }
        hasLeftovers = false
    }

    /// The file position from which to scan for `offset`.
    func scanStart(for offset: UInt64) -> Int {
        var low = 0
        var high = index.count - 1
        var best = 0
        while low <= high {
            let middle = (low + high) / 2
            if index[middle].offset <= offset {
                best = index[middle].position
                low = middle + 1
            } else {
                high = middle - 1
            }
        }
        return best
    }

    /// The file position from which to scan for the first event at or after `timestamp`.
    func scanStart(forTimestamp timestamp: Int64) -> Int {
        var best = 0
        for entry in index {
            if entry.timestamp >= timestamp { break }
            best = entry.position
        }
        return best
    }

    /// Calls `body` for each record from `position` on, reading in chunks (the first of
    /// `firstChunkBytes`, growing for a larger record), until it returns false.
    func scan(
        from position: Int, firstChunkBytes: Int = 256 << 10, _ body: (LogRecord.Header, UnsafeRawBufferPointer) -> Bool
    ) throws(StorageError) {
        var position = position
        var chunkSize = firstChunkBytes
        while position < size {
            if let end = skips[position] {
                position = end
                continue
            }
            let chunk = try file.read(count: min(chunkSize, size - position), at: position)
            var consumed = 0
            var keepGoing = true
            chunk.withUnsafeBytes { bytes in
                while keepGoing && consumed < bytes.count && skips[position + consumed] == nil {
                    switch LogRecord.parse(bytes, at: consumed) {
                    case .record(let header):
                        keepGoing = body(header, bytes)
                        consumed += header.size
                    case .incomplete, .corrupt:
                        return
                    }
                }
            }
            if !keepGoing { return }
            if consumed == 0 && skips[position] == nil {
                // A record larger than the chunk, or a corrupt one skipped at recovery: grow or step.
                if chunkSize < size - position {
                    chunkSize *= 4
                    continue
                }
                return
            }
            position += consumed
        }
    }
}
