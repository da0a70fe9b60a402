import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Syncing a segment file, and what a failed fdatasync means.
///
/// Linux reports a write-back error once to each open file and marks the pages clean, whether
/// or not they reached the disk: a later fdatasync on the same descriptor succeeds without
/// writing them. (The preallocator writes and syncs through a descriptor of its own, so it
/// never takes the error this one must see.) So a failure is remembered; until a sync has
/// written the data again and then succeeded, the file's data past the last good sync is not
/// durable, and a sync that raced with a failure does not count.
///
/// What is written again comes from memory: appends to a log that fsyncs are kept until a good
/// sync covers them, because pages marked clean after a failure may be evicted, and reading
/// them back would then return whatever the disk holds.
extension SegmentFile {
    struct SyncState: Sendable {
        /// A write-back error was reported and the data it may have lost is not yet rewritten.
        var failed = false
        /// Failures so far: a sync that saw this change while it ran does not count.
        var failures = 0
        /// Data below this was on disk at the last sync that counted.
        var syncedEnd = 0
        /// Bytes written again after failures (for tests).
        var rewrittenBytes = 0
        /// The next syncs that fail, as the disk would (for tests).
        var injectedFailures = 0
        /// Holds the next sync before its fdatasync until released, as a slow disk would (for
        /// tests): `entered` is signalled when it gets there.
        var heldSync: (entered: DispatchSemaphore, release: DispatchSemaphore)?
        /// Appends past `syncedEnd`, in file order, kept to write again after a failure.
        var unsynced: [KeptWrite] = []
        var unsyncedBytes = 0
        /// Where the kept bytes are counted (set by the first kept append).
        var budget: UnsyncedBudget?

        /// Drops the kept appends that `syncedEnd` covers.
        mutating func dropSynced() {
            let covered = unsynced.prefix { $0.position + $0.bytes.count <= syncedEnd }.count
            guard covered > 0 else { return }
            let bytes = unsynced[0..<covered].reduce(0) { $0 + $1.bytes.count }
            unsyncedBytes -= bytes
            budget?.give(bytes)
            unsynced.removeFirst(covered)
        }
    }

    /// An append kept until a good sync covers it.
    struct KeptWrite: Sendable {
        let position: Int
        let bytes: [UInt8]
    }

    /// Flushes written data to the disk, and the first time also the directory entries that lead
    /// to the file. `writtenEnd` is how far appends have written (and, from the loop thread's
    /// flush, finished): a sync that knows it can rewrite the data after a write-back error, and
    /// only such a sync makes the data count as durable again. Without it (tests), a failure is
    /// recorded for the next.
    func sync(writtenEnd: Int? = nil) throws(StorageError) {
        let (start, held) = syncState.withLock { state in
            defer { state.heldSync = nil }
            return ((state.failed, state.failures, state.syncedEnd), state.heldSync)
        }
        if let held {
            held.entered.signal()
            held.release.wait()
        }
        if start.0, let writtenEnd, writtenEnd > start.2 { try rewrite(start.2..<writtenEnd) }
        let injected = syncState.withLock { state in
            guard state.injectedFailures > 0 else { return false }
            state.injectedFailures -= 1
            return true
        }
        // (A descriptor the cache had closed is opened again: it closes only files whose writes
        // were all synced, so no write-back error can be waiting for the old one.)
        // The sync's errno, read before the descriptor is let go.
        let code = injected ? EIO : try withDescriptor { descriptor throws(StorageError) in fdatasync(descriptor) == 0 ? 0 : errno }
        if code != 0 {
            errno = code
            let error = StorageError.posix("fdatasync \(path)")
            syncState.withLock { state in
                state.failed = true
                state.failures += 1
            }
            throw error
        }
        try syncState.withLock { state throws(StorageError) in
            guard state.failures == start.1 else {
                // Another thread's sync failed meanwhile: this one's success proves nothing.
                throw StorageError(.io, "fdatasync \(path): a write-back error was reported to another sync meanwhile")
            }
            guard let writtenEnd else { return }
            state.failed = false
            state.syncedEnd = max(state.syncedEnd, writtenEnd)
            state.dropSynced()
        }
        let directories = unsyncedDirectories.withLock { $0 }
        for directory in directories { try Self.syncDirectory(directory) }
        if !directories.isEmpty { unsyncedDirectories.withLock { $0.removeAll { directories.contains($0) } } }
        syncs.add(1, ordering: .relaxed)
    }

    /// Writes `range` again, so that its pages are dirty and the next fdatasync writes them
    /// out: from the kept appends, and what none covers (data recovered at open) read back.
    private func rewrite(_ range: Range<Int>) throws(StorageError) {
        let kept = syncState.withLock { $0.unsynced }
        var position = range.lowerBound
        var rewritten = 0
        for write in kept where write.position + write.bytes.count > position && write.position < range.upperBound {
            if write.position > position { rewritten += try rewriteFromFile(position..<write.position) }
            let start = max(position, write.position)
            let end = min(range.upperBound, write.position + write.bytes.count)
            try write.bytes.withUnsafeBytes { raw in
                Result { () throws(StorageError) in
                    try self.write(UnsafeRawBufferPointer(rebasing: raw[(start - write.position)..<(end - write.position)]), at: start)
                }
            }.get()
            rewritten += end - start
            position = end
        }
        if position < range.upperBound { rewritten += try rewriteFromFile(position..<range.upperBound) }
        syncState.withLock { [rewritten] in $0.rewrittenBytes += rewritten }
    }

    /// Reads `range` back and writes it again; returns how many bytes it could.
    private func rewriteFromFile(_ range: Range<Int>) throws(StorageError) -> Int {
        var position = range.lowerBound
        while position < range.upperBound {
            let chunk = try read(count: min(1 << 20, range.upperBound - position), at: position)
            guard !chunk.isEmpty else { break }
            try chunk.withUnsafeBytes { raw in Result { () throws(StorageError) in try write(raw, at: position) } }.get()
            position += chunk.count
        }
        return position - range.lowerBound
    }

    /// Keeps an append at `position` until a good sync covers it, counted in `budget`; called
    /// before it is written (a failed write cuts the file back, which forgets it). Refused,
    /// with nothing kept, when the budget is used up: the disk is too slow or failing. The
    /// refusal is ``StorageError/Code/full`` (the wire's `STORAGE_FULL`, "retry later"): no
    /// room is left for writes waiting on the disk, and room comes back as syncs complete.
    func keepUntilSynced(_ bytes: [UInt8], at position: Int, within budget: UnsyncedBudget) throws(StorageError) {
        guard budget.take(bytes.count) else {
            throw StorageError(
                .full,
                "\(budget.waiting) bytes of appends wait for an fdatasync (the disk is too slow or failing; at most \(budget.limit)): "
                    + "publish again once it catches up")
        }
        syncState.withLock { state in
            state.budget = budget
            state.unsynced.append(KeptWrite(position: position, bytes: bytes))
            state.unsyncedBytes += bytes.count
        }
    }

    /// Gives the kept bytes back to their budget (the file is closed).
    func releaseKeptWrites() {
        syncState.withLock { state in
            state.budget?.give(state.unsyncedBytes)
            state.unsynced.removeAll()
            state.unsyncedBytes = 0
        }
    }

    /// Forgets kept appends at or past `size` (the file was cut there).
    func forgetKeptWrites(from size: Int) {
        syncState.withLock { state in
            while let last = state.unsynced.last, last.position + last.bytes.count > size {
                state.unsynced.removeLast()
                state.unsyncedBytes -= last.bytes.count
                state.budget?.give(last.bytes.count)
            }
        }
    }

    /// Holds the next sync before its fdatasync: `entered` is signalled when it gets there, and
    /// it goes on when `release` is (for tests).
    func holdNextSync(entered: DispatchSemaphore, release: DispatchSemaphore) {
        syncState.withLock { $0.heldSync = (entered, release) }
    }

    /// Makes the next `count` syncs fail with EIO, as a failing disk would (for tests).
    func injectSyncFailures(_ count: Int) { syncState.withLock { $0.injectedFailures += count } }

    /// The directories the next sync syncs as well (for tests).
    var directoriesToSync: [String] { unsyncedDirectories.withLock { $0 } }
    /// How many times the file was synced (for tests).
    var syncCount: Int { syncs.load(ordering: .relaxed) }
    /// Write-back error handling so far (for tests).
    var syncSnapshot: SyncState { syncState.withLock { $0 } }

    /// Syncs a directory: the entries created or removed in it reach the disk.
    static func syncDirectory(_ path: String) throws(StorageError) {
        let directory = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw StorageError.posix("open directory \(path)") }
        defer { close(directory) }
        guard fsync(directory) == 0 else { throw StorageError.posix("fsync directory \(path)") }
    }
}
