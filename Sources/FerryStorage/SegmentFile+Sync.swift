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
/// written the data again (read back and rewritten, which makes the pages dirty) and then
/// succeeded, the file's data past the last good sync is not durable, and a sync that raced
/// with a failure does not count.
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
    }

    /// Flushes written data to the disk, and the first time also the directory entries that lead
    /// to the file. `writtenEnd` is how far appends have written (and, from the loop thread's
    /// flush, finished): a sync that knows it can rewrite the data after a write-back error, and
    /// only such a sync makes the data count as durable again. Without it (tests), a failure is
    /// recorded for the next.
    func sync(writtenEnd: Int? = nil) throws(StorageError) {
        let start = syncState.withLock { state in (state.failed, state.failures, state.syncedEnd) }
        if start.0, let writtenEnd, writtenEnd > start.2 { try rewrite(start.2..<writtenEnd) }
        let injected = syncState.withLock { state in
            guard state.injectedFailures > 0 else { return false }
            state.injectedFailures -= 1
            return true
        }
        if injected || fdatasync(descriptor) != 0 {
            if injected { errno = EIO }
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
        }
        let directories = unsyncedDirectories.withLock { $0 }
        for directory in directories { try Self.syncDirectory(directory) }
        if !directories.isEmpty { unsyncedDirectories.withLock { $0.removeAll { directories.contains($0) } } }
        syncs.add(1, ordering: .relaxed)
    }

    /// Reads `range` back and writes it again, so that its pages are dirty and the next
    /// fdatasync writes them out.
    private func rewrite(_ range: Range<Int>) throws(StorageError) {
        var position = range.lowerBound
        while position < range.upperBound {
            let chunk = try read(count: min(1 << 20, range.upperBound - position), at: position)
            guard !chunk.isEmpty else { break }
            try chunk.withUnsafeBytes { raw in Result { () throws(StorageError) in try write(raw, at: position) } }.get()
            position += chunk.count
        }
        syncState.withLock { $0.rewrittenBytes += position - range.lowerBound }
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
