import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The zero runway of an active segment (see ``SegmentFile``): kept and extended by the
/// ``Preallocator`` through a descriptor of its own, and given up when the segment rolls, the
/// store closes or its topic is parked.
extension SegmentFile {
    /// The preallocator's descriptor for this file.
    func runwayFileDescriptor() throws(StorageError) -> Int32 {
        try runwayDescriptor.withLock { runway throws(StorageError) in
            if runway < 0 {
                runway = open(path, O_WRONLY | O_CLOEXEC)
                guard runway >= 0 else { throw StorageError.posix("open \(path) for its runway") }
            }
            return runway
        }
    }

    /// Closes the preallocator's descriptor once the file keeps no runway (sealed, or given up):
    /// a rolled segment then holds one descriptor, not two.
    func closeRunwayDescriptor() {
        runwayDescriptor.withLock { runway in
            if runway >= 0 { close(runway) }
            runway = -1
        }
        let counted = runwayCounted.withLock { counted in
            defer { counted = false }
            return counted
        }
        if counted { cache?.runwayEnded() }
    }

    /// Flushes the runway's zeros (and whatever else is dirty) through the preallocator's own
    /// descriptor: its errors are not the ones the syncer's fdatasync must see.
    func syncRunway() throws(StorageError) {
        guard fdatasync(try runwayFileDescriptor()) == 0 else { throw StorageError.posix("fdatasync \(path)") }
    }

    // MARK: - Runway

    /// Starts keeping a runway past `dataEnd` (the logical size; nothing is past it yet).
    /// Returns whether to ask the preallocator for the first extension.
    func startRunway(dataEnd: Int, configuration: Preallocator.Configuration) -> Bool {
        let newlyCounted = runwayCounted.withLock { counted in
            defer { counted = true }
            return !counted
        }
        if newlyCounted { cache?.runwayStarted() }
        return extent.withLock { state in
            state.dataEnd = dataEnd
            state.runwayEnd = dataEnd
            state.hasRunway = true
            state.maximumChunk = max(configuration.chunkBytes, configuration.pieceBytes)
            state.nextChunk = configuration.pieceBytes
            guard state.wantsRunway else { return false }
            state.extending = true
            return true
        }
    }

    /// Ends the runway (the segment rolled or the store is closing): no more extensions.
    /// Returns whether the file may hold runway past the data end, to truncate with ``truncateRunway()``.
    func seal() -> Bool {
        extent.withLock { state in
            let had = state.hasRunway && !state.sealed
            state.sealed = true
            return had
        }
    }

    /// Takes a sealed file's runway up again (a parked topic's active segment, appended to).
    func unseal() {
        extent.withLock { $0.sealed = false }
    }

    /// Truncates a sealed file to its data end, dropping the runway. Call it on the preallocator's
    /// thread (or once it has stopped): it never zero-fills this file again.
    func truncateRunway() throws(StorageError) {
        defer {
            // Unless an append took the runway up again meanwhile (a parked topic's): checked
            // and ended under the extent's lock, which that append's unseal takes.
            extent.withLock { state in if state.sealed { closeRunwayDescriptor() } }
            // Its data descriptor may be idle now: close it if the budget is spent.
            cache?.trim()
        }
        try withDescriptor { descriptor throws(StorageError) in
            try extent.withLock { state throws(StorageError) in
                guard state.sealed, state.zeroing == nil else { return }
                state.runwayEnd = state.dataEnd
                var info = stat()
                guard fstat(descriptor, &info) == 0, Int(info.st_size) > state.dataEnd else { return }
                guard ftruncate(descriptor, off_t(state.dataEnd)) == 0 else { throw StorageError.posix("truncate \(path)") }
            }
        }
    }

    /// The range the next extension should zero-fill: from the runway end on, but at least `lead`
    /// bytes past the data end (a fresh segment, or appends that outran the runway: the appends
    /// right behind must not have to wait for the zeros). Nil if the file keeps no runway any more.
    func planExtension(lead: Int) -> Range<Int>? {
        extent.withLock { state in
            guard state.hasRunway, !state.sealed else {
                state.extending = false
                return nil
            }
            let start = max(state.runwayEnd, state.dataEnd + lead)
            let chunk = state.nextChunk
            state.nextChunk = min(state.maximumChunk, chunk * 2)
            return start..<(start + chunk)
        }
    }

    /// Claims the next piece of an extension, from `position` on and at least `lead` bytes past
    /// the data end (as in ``planExtension(lead:)``), ending by `end`.
    /// Nil when there is nothing left to claim or the file was sealed.
    func claimPiece(from position: Int, before end: Int, pieceBytes: Int, lead: Int) -> Range<Int>? {
        extent.withLock { state in
            guard !state.sealed else { return nil }
            let start = max(position, state.dataEnd + lead)
            guard start < end else { return nil }
            let piece = start..<min(end, start + pieceBytes)
            state.zeroing = piece
            return piece
        }
    }

    /// Writes zeros over the claimed piece (`zeros` holds at least its length) and has the kernel
    /// write them back (sync_file_range), so that a concurrent fdatasync never has to flush more
    /// than one piece of zeros. Ends the claim (waking waiting appends) whether or not it fails.
    /// Returns how many appends waited for the piece.
    @discardableResult
    func zeroFill(_ piece: Range<Int>, from zeros: UnsafeRawBufferPointer) throws(StorageError) -> Int {
        var failure: StorageError?
        do {
            let runway = try runwayFileDescriptor()
            try write(UnsafeRawBufferPointer(rebasing: zeros[0..<piece.count]), at: piece.lowerBound, through: runway)
            try Self.writeBack(runway, piece, path: path)
        } catch {
            failure = error
        }
        let waiters = extent.withLock { state in
            state.zeroing = nil
            defer { state.waiters = 0 }
            return state.waiters
        }
        for _ in 0..<waiters { zeroingEnded.signal() }
        if let failure { throw failure }
        return waiters
    }

    /// Publishes the runway (zeroed and synced) up to `end` and ends the extension. Returns
    /// whether the runway is still short (appends outran it): then extend again.
    func finishExtension(runwayEnd end: Int) -> Bool {
        extent.withLock { state in
            state.runwayEnd = max(state.runwayEnd, end)
            state.extending = false
            guard state.wantsRunway else { return false }
            state.extending = true
            return true
        }
    }

    /// Gives up the runway after a failed extension (a full disk, say): appends grow the file as
    /// without one. The next segment tries again.
    func abandonRunway() {
        closeRunwayDescriptor()
        extent.withLock { state in
            state.hasRunway = false
            state.extending = false
        }
    }

    // MARK: sync_file_range

    private typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
    /// `sync_file_range(2)` (Linux), looked up at run time: Glibc's module does not export it.
    private static let syncFileRange: SyncFileRange? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: SyncFileRange.self)
    }()
    /// SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER.
    private static let writeAndWait: UInt32 = 1 | 2 | 4

    /// Writes `range` of the file back to the disk and waits (data only; no metadata, no cache flush).
    private static func writeBack(_ descriptor: Int32, _ range: Range<Int>, path: String) throws(StorageError) {
        guard let syncFileRange else { return }
        while syncFileRange(descriptor, Int64(range.lowerBound), Int64(range.count), writeAndWait) != 0 {
            if errno == EINTR { continue }
            throw StorageError.posix("sync_file_range \(path)")
        }
    }
}
