import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An open segment file. Shared by the log (appends, reads), the syncer (fsync) and the
/// ``Preallocator`` (zero runway), and closed when the last of them lets go.
///
/// **Runway.** For topics that fsync (`always`, `batch`), the active segment keeps a zeroed,
/// synced runway past its data end, so that an append overwrites blocks that are already written
/// and allocated, and its fdatasync flushes only data: an append that grows the file also makes
/// fdatasync commit the file's size and extents (on ext4 about twice the cost). Two threads write
/// the file: the loop thread appends at the data end, the preallocator writes zeros past it.
/// ``Extent``, under a mutex, keeps the zeros off appended data: the preallocator zero-fills only
/// a piece it claimed past the data end, and an append that would overlap that piece waits until
/// the piece is written (rare: only when appends outrun the preallocator). The file's logical
/// size is the segment's `size`; anything past it is runway (zeros) that recovery and sealing
/// truncate.
final class SegmentFile: Sendable {
    /// Who wrote how far. Positions are file offsets.
    struct Extent: Sendable {
        /// The end of appended data (appends are contiguous).
        var dataEnd = 0
        /// Up to here everything past `dataEnd` is zeros (written, or a hole), synced.
        var runwayEnd = 0
        /// The piece the preallocator is zero-filling right now.
        var zeroing: Range<Int>?
        /// Appends waiting for `zeroing` to end.
        var waiters = 0
        /// Whether this file keeps a runway (an active segment of a topic that fsyncs).
        var hasRunway = false
        /// Whether an extension is queued or running.
        var extending = false
        /// The size of the next extension: it doubles from one piece up to the configured
        /// chunk, so a topic that holds little also gets a small runway.
        var nextChunk = 0
        var maximumChunk = 0
        /// The segment rolled (or the store closed): no more runway.
        var sealed = false

        /// Whether the runway left is short enough to ask for more.
        var wantsRunway: Bool { hasRunway && !sealed && !extending && runwayEnd - dataEnd < nextChunk / 2 }
    }

    /// The data descriptor, opened on demand and closed by the ``DescriptorCache`` when idle.
    private struct Handle {
        var descriptor: Int32
        /// Threads using the descriptor right now: it is not closed under them.
        var users = 0
        var lastUse: UInt64
    }

    let path: String
    private let handle: Mutex<Handle>
    let cache: DescriptorCache?
    let extent = Mutex(Extent())
    /// Signalled once per waiter when a zeroing piece ends.
    let zeroingEnded = DispatchSemaphore(value: 0)
    /// Directories whose new entries (this file's, or its directory's) are not known to be on
    /// disk yet: the first sync syncs them too, so that a confirmed event's file cannot vanish
    /// with a power loss, whatever the file system.
    let unsyncedDirectories: Mutex<[String]>
    /// Write-back errors and what is known to be on disk (see `SegmentFile+Sync.swift`).
    let syncState = Mutex(SyncState())
    /// Successful syncs (for tests).
    let syncs = Atomic<Int>(0)
    /// Failures a test asked for (see ``injectFaults(partialWrites:truncates:)``); checked only
    /// once `faultsArmed` is set.
    let injectedFaults = Mutex(InjectedFaults())
    let faultsArmed = Atomic<Bool>(false)
    /// The preallocator's own descriptor (opened when first needed). Linux reports a write-back
    /// error once per open file: on a shared descriptor, the runway's sync_file_range or
    /// fdatasync could take the error that the syncer's fdatasync must see.
    let runwayDescriptor = Mutex<Int32>(-1)
    /// The runway counts in the descriptor budget from its start to its end, whether or not
    /// the preallocator has opened its descriptor yet (it does so later, on its own thread).
    let runwayCounted = Mutex(false)

    /// Opens the file at `path`, creating it if needed. `newEntriesIn` names the directories
    /// whose entries creating it added (its own, and its parent's if that was new too).
    init(path: String, newEntriesIn directories: [String] = [], cache: DescriptorCache? = nil) throws(StorageError) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StorageError.posix("open \(path)") }
        self.path = path
        self.cache = cache
        handle = Mutex(Handle(descriptor: descriptor, lastUse: DescriptorCache.tick()))
        unsyncedDirectories = Mutex(directories)
        cache?.register(self)
        cache?.trim(sparing: self)
    }

    deinit {
        releaseKeptWrites()
        handle.withLock { handle in
            guard handle.descriptor >= 0 else { return }
            close(handle.descriptor)
            cache?.unregister(self)
        }
        closeRunwayDescriptor()
    }

    /// Runs `body` with the data descriptor, reopening it if the cache closed it; it stays open
    /// until `body` returns.
    func withDescriptor<Result>(_ body: (Int32) throws(StorageError) -> Result) throws(StorageError) -> Result {
        let (descriptor, reopened) = try handle.withLock { handle throws(StorageError) -> (Int32, Bool) in
            var reopened = false
            if handle.descriptor < 0 {
                let descriptor = open(path, O_RDWR | O_CLOEXEC)
                guard descriptor >= 0 else { throw StorageError.posix("open \(path)") }
                handle.descriptor = descriptor
                reopened = true
                // Counted under the lock, so a concurrent close cannot uncount it.
                cache?.register(self)
            }
            handle.users += 1
            handle.lastUse = DescriptorCache.tick()
            return (handle.descriptor, reopened)
        }
        if reopened { cache?.trim(sparing: self) }
        defer { handle.withLock { $0.users -= 1 } }
        return try body(descriptor)
    }

    /// When the data descriptor was last used (see ``DescriptorCache``).
    var lastUse: UInt64 { handle.withLock { $0.lastUse } }

    /// Closes the data descriptor if nothing needs it open: no thread uses it, no runway is kept
    /// or being written, and everything written is synced (a descriptor that must see a
    /// write-back error, or whose appends wait for an fdatasync, stays open). Returns whether it
    /// closed it.
    func closeIfIdle() -> Bool {
        // Checked under the descriptor's lock, so no append or sync can start in between (they
        // take it first, and nothing takes it while holding the others).
        handle.withLock { handle in
            guard handle.users == 0, handle.descriptor >= 0 else { return false }
            let runwayIdle = extent.withLock { state in !state.hasRunway || (state.sealed && state.zeroing == nil && !state.extending) }
            guard runwayIdle, runwayDescriptor.withLock({ $0 < 0 }) else { return false }
            guard syncState.withLock({ !$0.failed && $0.unsynced.isEmpty }) else { return false }
            close(handle.descriptor)
            handle.descriptor = -1
            cache?.unregister(self)
            return true
        }
    }

    /// The size of the file on disk (which may include runway past the logical size).
    var size: Int {
        var info = stat()
        return (try? withDescriptor { fstat($0, &info) == 0 }) == true ? Int(info.st_size) : 0
    }

    /// Appends all of `bytes` at `position`, the data end. Returns whether the runway is short
    /// and the preallocator should extend it (at most once until it has).
    @discardableResult
    func append(_ bytes: [UInt8], at position: Int) throws(StorageError) -> Bool {
        let end = position + bytes.count
        var wantsRunway = false
        while true {
            let mustWait = extent.withLock { state in
                if let zeroing = state.zeroing, zeroing.overlaps(position..<end) {
                    state.waiters += 1
                    return true
                }
                // Raise the data end before writing: the preallocator never claims below it.
                state.dataEnd = max(state.dataEnd, end)
                if state.wantsRunway {
                    state.extending = true
                    wantsRunway = true
                }
                return false
            }
            guard mustWait else { break }
            zeroingEnded.wait()
        }
        if faultsArmed.load(ordering: .relaxed), takeFault(\.partialWrites) {
            // Half written, then the disk is full.
            try bytes.withUnsafeBytes { raw in
                Result { () throws(StorageError) in try write(UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count / 2)]), at: position) }
            }.get()
            errno = ENOSPC
            throw StorageError.posix("write \(path)")
        }
        try bytes.withUnsafeBytes { raw in Result { () throws(StorageError) in try write(raw, at: position) } }.get()
        return wantsRunway
    }

    /// Writes all of `bytes` at `position` (through `fileDescriptor`, by default the file's own).
    func write(_ bytes: UnsafeRawBufferPointer, at position: Int, through fileDescriptor: Int32? = nil) throws(StorageError) {
        guard let target = fileDescriptor else {
            return try withDescriptor { descriptor throws(StorageError) in try write(bytes, at: position, through: descriptor) }
        }
        var written = 0
        while written < bytes.count {
            let result = pwrite(target, bytes.baseAddress! + written, bytes.count - written, off_t(position + written))
            if result < 0 {
                if errno == EINTR { continue }
                throw StorageError.posix("write \(path)")
            }
            written += result
        }
    }

    /// Reads up to `count` bytes at `position`.
    func read(count: Int, at position: Int) throws(StorageError) -> [UInt8] {
        try withDescriptor { descriptor throws(StorageError) in try read(count: count, at: position, through: descriptor) }
    }

    private func read(count: Int, at position: Int, through descriptor: Int32) throws(StorageError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let result = buffer.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + filled, count - filled, off_t(position + filled))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw StorageError.posix("read \(path)")
            }
            if result == 0 { break }
            filled += result
        }
        if filled < count { buffer.removeLast(count - filled) }
        return buffer
    }

    /// Cuts the file at `size`, which becomes the data end; runway past it is gone (and the
    /// next append may ask for more, even if a failed append had asked).
    func truncate(to size: Int) throws(StorageError) {
        forgetKeptWrites(from: size)
        // The descriptor first, then the extent: never a descriptor (and the cache's closing of
        // other files) under the extent's lock.
        try withDescriptor { descriptor throws(StorageError) in
            try extent.withLock { state throws(StorageError) in
                state.dataEnd = size
                state.runwayEnd = min(state.runwayEnd, size)
                state.extending = false
                if faultsArmed.load(ordering: .relaxed), takeFault(\.truncates) {
                    errno = EIO
                } else if ftruncate(descriptor, off_t(size)) == 0 {
                    return
                }
                throw StorageError.posix("truncate \(path)")
            }
        }
    }

    // MARK: - Injected faults (tests)

    struct InjectedFaults: Sendable {
        /// Appends that write half their bytes and then fail as on a full disk.
        var partialWrites = 0
        /// Truncations that fail with EIO.
        var truncates = 0
    }

    /// Makes the next appends and truncations fail, as a failing disk would (for tests).
    func injectFaults(partialWrites: Int = 0, truncates: Int = 0) {
        injectedFaults.withLock {
            $0.partialWrites += partialWrites
            $0.truncates += truncates
        }
        faultsArmed.store(true, ordering: .relaxed)
    }

    /// Takes one injected fault of a kind, if any is left.
    private func takeFault(_ kind: WritableKeyPath<InjectedFaults, Int>) -> Bool {
        injectedFaults.withLock { faults in
            guard faults[keyPath: kind] > 0 else { return false }
            faults[keyPath: kind] -= 1
            return true
        }
    }

    /// What the file's runway looks like now (for tests).
    var extentSnapshot: Extent { extent.withLock { $0 } }
}

extension StorageError {
    /// The error for a failed system call, from `errno`: `.full` for ENOSPC/EDQUOT.
    static func posix(_ operation: String) -> StorageError {
        let code = errno
        let text = String(cString: strerror(code))
        let kind: StorageError.Code =
            switch code {
            case ENOSPC, EDQUOT: .full
            case EMFILE, ENFILE: .descriptors
            default: .io
            }
        return StorageError(kind, "\(operation): \(text) (errno \(code))")
    }
}
