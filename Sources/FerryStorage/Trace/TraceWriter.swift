import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The trace log's files. The writer thread appends and deletes; searches and the metrics read
/// the list of segments, how far each is written, and the counts. Those are behind a lock held
/// only to copy or update them: the writes themselves happen outside it, so a slow disk never
/// holds up a reader (the broker thread reads the counts at its housekeeping).
final class TraceWriter: Sendable {
    private struct Shared {
        var segments: [TraceSegment] = []
        var statistics = TraceLogStatistics()
    }

    /// What only the writer thread uses (a lock nobody else takes, for `Sendable`).
    private struct Output {
        /// The open descriptor of the last segment; -1 when none is open.
        var descriptor: Int32 = -1
        var nextSequence: UInt64 = 0
    }

    let configuration: TraceLogConfiguration
    private let shared = Mutex(Shared())
    private let output = Mutex(Output())
    /// The most records in one frame: a frame is read whole.
    static let maxRecordsPerFrame = 4096
    /// A frame is cut once its records take this many bytes (records are bounded: see
    /// ``TraceCodec``), far below the 1 GiB a CRC frame may hold.
    static let maxFrameBytes = 4 << 20
    /// Frames are gathered into writes of about this size.
    static let maxWriteBytes = 1 << 20

    init(configuration: TraceLogConfiguration) throws(StorageError) {
        self.configuration = configuration
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
        } catch {
            throw StorageError(.io, "cannot create the trace directory \(configuration.directory): \(error.localizedDescription)")
        }
        let names = (try? manager.contentsOfDirectory(atPath: configuration.directory)) ?? []
        var segments = names.compactMap { name -> TraceSegment? in
            guard let first = TraceSegment.firstSequence(ofName: name) else { return nil }
            let path = configuration.directory + "/" + name
            let size = (try? manager.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            return TraceSegment(path: path, firstSequence: first, length: size ?? 0)
        }.sorted { $0.firstSequence < $1.firstSequence }
        var nextSequence: UInt64 = 0
        if var last = segments.popLast() {
            // The last segment may end in a batch a crash tore: keep its whole frames only.
            let bytes = last.read() ?? []
            let (end, records) = bytes.withUnsafeBytes { TraceSegment.scan($0) { _ in } }
            if end < bytes.count { truncate(last.path, off_t(end)) }
            last.length = end
            nextSequence = last.firstSequence + records
            segments.append(last)
        }
        let stored = segments.reduce(Int64(0)) { $0 + Int64($1.length) }
        shared.withLock {
            $0.segments = segments
            $0.statistics.storedBytes = stored
        }
        output.withLock { $0.nextSequence = nextSequence }
    }

    var segments: [TraceSegment] { shared.withLock { $0.segments } }
    var statistics: TraceLogStatistics { shared.withLock { $0.statistics } }

    /// Appends the records of `batches`, a frame per batch (or per ``maxRecordsPerFrame`` or
    /// ``maxFrameBytes``), in as few writes as ``maxWriteBytes`` allows: one per wake of the
    /// writer at a moderate rate. Opens a new segment when the current one is full. A failed
    /// write is counted and its records given up. Writer thread only (`names` is its own).
    func write(
        _ batches: [TraceBatch], names: inout TraceCodec.NameResolver, readEnvelope: (UnsafeRawBufferPointer) -> TraceRecord.EnvelopeLayout
    ) {
        var frames: [UInt8] = []
        var records: UInt64 = 0
        for batch in batches {
            var position = 0
            var start = 0
            while start < batch.count {
                if frames.count >= Self.maxWriteBytes {
                    flush(frames, records: records)
                    frames.removeAll(keepingCapacity: true)
                    records = 0
                }
                let frameStart = frames.count
                frames.append(contentsOf: repeatElement(0, count: CRCFrame.headerSize))
                let (next, end) = TraceCodec.encode(
                    batch, from: position, record: start, names: &names, into: &frames, maxRecords: Self.maxRecordsPerFrame,
                    maxBytes: Self.maxFrameBytes, readEnvelope: readEnvelope)
                frames.withUnsafeMutableBytes { CRCFrame.seal($0.baseAddress! + frameStart, frameSize: $0.count - frameStart) }
                records += UInt64(end - start)
                position = next
                start = end
            }
        }
        if !frames.isEmpty { flush(frames, records: records) }
    }

    /// Writes whole frames holding `records` records, and counts them written or failed.
    private func flush(_ frames: [UInt8], records: UInt64) {
        let written = appendToSegment(frames, records: records)
        shared.withLock {
            if written { $0.statistics.written += records } else { $0.statistics.failed += records }
        }
    }

    private func appendToSegment(_ frame: [UInt8], records: UInt64) -> Bool {
        output.withLock { output in
            let last = segments.last
            let full = last.map { $0.length > 0 && $0.length + frame.count > configuration.segmentBytes } ?? true
            if output.descriptor < 0 || full {
                guard openSegment(&output, roll: full) else { return false }
            }
            let ok = frame.withUnsafeBytes { bytes in
                var done = 0
                while done < bytes.count {
                    let result = Glibc.write(output.descriptor, bytes.baseAddress! + done, bytes.count - done)
                    if result < 0 && errno == EINTR { continue }
                    guard result > 0 else { return false }
                    done += result
                }
                return true
            }
            guard ok else {
                // A partial frame would hide every later one from searches: cut it off.
                if let length = segments.last?.length { _ = ftruncate(output.descriptor, off_t(length)) }
                return false
            }
            shared.withLock { shared in
                shared.segments[shared.segments.count - 1].length += frame.count
                shared.statistics.storedBytes += Int64(frame.count)
            }
            output.nextSequence += records
            return true
        }
    }

    /// Opens the segment new records go to: with `roll`, a new one (the full one is synced
    /// and closed first, so that only the last segment's end can be lost to a power cut);
    /// otherwise the last one, or a new one if there is none.
    private func openSegment(_ output: inout Output, roll: Bool) -> Bool {
        if output.descriptor >= 0 {
            if roll { _ = fdatasync(output.descriptor) }
            Glibc.close(output.descriptor)
            output.descriptor = -1
        }
        if !roll, let last = segments.last {
            output.descriptor = open(last.path, O_WRONLY | O_APPEND | O_CLOEXEC)
            if output.descriptor >= 0 { return true }
        }
        let segment = TraceSegment(
            path: configuration.directory + "/" + TraceSegment.name(firstSequence: output.nextSequence),
            firstSequence: output.nextSequence, length: 0)
        output.descriptor = open(segment.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard output.descriptor >= 0 else { return false }
        shared.withLock { shared in
            if shared.segments.last?.length == 0 { shared.segments.removeLast() }
            shared.segments.append(segment)
        }
        return true
    }

    /// Deletes the oldest segments while the log is over ``TraceLogConfiguration/maxBytes`` or
    /// they are older than ``TraceLogConfiguration/maxAgeSeconds``; the newest always stays.
    /// Writer thread only.
    func applyRetention(now: Date) {
        // Decided and counted in one step (a reader never sees half of it); the files go after.
        let doomed: [TraceSegment] = shared.withLock { shared in
            var total = shared.segments.reduce(Int64(0)) { $0 + Int64($1.length) }
            var count = 0
            while shared.segments.count - count > 1 {
                let oldest = shared.segments[count]
                let modified = (try? FileManager.default.attributesOfItem(atPath: oldest.path)[.modificationDate] as? Date) ?? nil
                let expired = configuration.maxAgeSeconds.map { age in modified.map { now.timeIntervalSince($0) > Double(age) } ?? false } ?? false
                guard total > configuration.maxBytes || expired else { break }
                total -= Int64(oldest.length)
                count += 1
            }
            guard count > 0 else { return [] }
            let removed = Array(shared.segments.prefix(count))
            shared.segments.removeFirst(count)
            shared.statistics.expired += shared.segments[0].firstSequence - removed[0].firstSequence
            shared.statistics.storedBytes = total
            return removed
        }
        for segment in doomed { unlink(segment.path) }
    }

    /// Makes what was written durable (a graceful stop keeps it across a power cut too: earlier
    /// segments were synced when they filled) and closes the file. Writer thread only.
    func close() {
        output.withLock { output in
            guard output.descriptor >= 0 else { return }
            _ = fdatasync(output.descriptor)
            Glibc.close(output.descriptor)
            output.descriptor = -1
        }
    }
}
