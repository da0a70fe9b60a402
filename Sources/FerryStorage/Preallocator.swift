import FerryRuntime
import Synchronization

/// Keeps a zeroed runway ahead of the data end of active segments of topics that fsync
/// (`always`, `batch`), on its own thread (one per store), so that appends overwrite blocks that
/// are already written and synced and each fdatasync flushes only data, not the file's size and
/// extents too (see ``SegmentFile``).
///
/// When an append leaves less than half a chunk of runway, the segment file asks for more; this
/// thread zero-fills the next chunk past the runway in pieces, each written back with
/// `sync_file_range` before the next (so a concurrent fdatasync of the file never flushes more
/// than a piece of zeros, and an append that catches up waits at most for one piece), then
/// fdatasyncs once and publishes the new runway end. Chunks double from one piece up to
/// ``Configuration/chunkBytes``. It also truncates the runway of segments that rolled.
final class Preallocator: Sendable {
    struct Configuration: Sendable, Equatable {
        /// The largest extension: zeros written in one go past the runway end. An extension is
        /// asked for when less than half of this is left.
        var chunkBytes = 4 << 20
        /// Zeros are written and written back in pieces of this size.
        var pieceBytes = 256 << 10
    }

    enum Job: Sendable {
        /// Extend the file's runway (it asked: ``SegmentFile/append(_:at:)``).
        case extend(SegmentFile)
        /// The file's segment rolled: truncate its runway.
        case truncate(SegmentFile)
    }

    struct Statistics: Sendable {
        /// Extensions that wrote zeros, and how many bytes.
        var extensions = 0
        var zeroedBytes = 0
        var failures = 0
        /// Appends that caught up with a piece being zero-filled and waited for it.
        var appendWaits = 0
    }

    let configuration: Configuration
    /// Jobs; nil ends the thread.
    private let thread = LoopThread<Job?>(name: "ferry-runway")
    private let counters = Mutex(Statistics())
    private let zeros: [UInt8]

    init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        zeros = [UInt8](repeating: 0, count: configuration.pieceBytes)
        thread.start { [self] in run() }
    }

    var statistics: Statistics { counters.withLock { $0 } }

    func extend(_ file: SegmentFile) { thread.commands.push(.extend(file)) }

    /// Seals `file` (its segment rolled) and truncates its runway on this thread.
    func seal(_ file: SegmentFile) {
        if file.seal() { thread.commands.push(.truncate(file)) }
    }

    /// Ends the thread: truncations queued so far are done, extensions are dropped (an extension
    /// under way stops after its current piece).
    func stop() {
        thread.stop(sending: nil)
    }

    /// Set by ``stop()`` before the thread sees its nil: an extension under way ends early.
    private var stopping: Bool { thread.isStopRequested }

    private func run() {
        let jobs = thread.commands
        var running = true
        while running {
            jobs.wait()
            let batch = jobs.drain()
            if batch.contains(where: { $0 == nil }) { running = false }
            for job in batch {
                switch job {
                case .extend(let file):
                    if running && !stopping { zeroFill(file) }
                case .truncate(let file):
                    try? file.truncateRunway()
                case nil:
                    break
                }
            }
        }
    }

    /// Extends `file`'s runway, chunk after chunk while appends keep it short.
    private func zeroFill(_ file: SegmentFile) {
        let pieceBytes = configuration.pieceBytes
        var again = true
        while again && !stopping {
            guard let chunk = file.planExtension(lead: pieceBytes) else { return }
            var position = chunk.lowerBound
            var zeroed = 0
            var waits = 0
            do {
                while !stopping,
                    let piece = file.claimPiece(from: position, before: chunk.upperBound, pieceBytes: pieceBytes, lead: pieceBytes)
                {
                    waits += try zeros.withUnsafeBytes { raw in Result { () throws(StorageError) in try file.zeroFill(piece, from: raw) } }
                        .get()
                    position = piece.upperBound
                    zeroed += piece.count
                }
                if zeroed > 0 { try file.syncRunway() }
            } catch {
                file.abandonRunway()
                counters.withLock { $0.failures += 1 }
                return
            }
            if zeroed > 0 {
                counters.withLock {
                    $0.extensions += 1
                    $0.zeroedBytes += zeroed
                    $0.appendWaits += waits
                }
            }
            again = file.finishExtension(runwayEnd: zeroed > 0 ? position : 0)
        }
    }
}
