import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The trace log's files: the writer thread appends and deletes; searches read the list of
/// segments and how far each is written, under a lock.
final class TraceWriter: Sendable {
    private struct State {
        var segments: [TraceSegment] = []
        var statistics = TraceLogStatistics()
        /// The open descriptor of the last segment; -1 once closed.
        var descriptor: Int32 = -1
        var nextSequence: UInt64 = 0
    }

    let configuration: TraceLogConfiguration
    private let state = Mutex(State())
    /// The most records in one frame: a frame is read whole.
    static let maxRecordsPerFrame = 4096

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
        state.withLock {
            $0.segments = segments
            $0.nextSequence = nextSequence
            $0.statistics.storedBytes = stored
        }
    }

    var segments: [TraceSegment] { state.withLock { $0.segments } }
    var statistics: TraceLogStatistics { state.withLock { $0.statistics } }

    /// Appends `records`, a frame per ``maxRecordsPerFrame``, opening a new segment when the
    /// current one is full. A failed write is counted and the batch given up.
    func write(_ records: [TraceRecord], readEnvelope: (UnsafeRawBufferPointer) -> TraceRecord.EnvelopeLayout) {
        var start = 0
        var frame: [UInt8] = []
        while start < records.count {
            let end = min(start + Self.maxRecordsPerFrame, records.count)
            frame.removeAll(keepingCapacity: true)
            frame.append(contentsOf: repeatElement(0, count: CRCFrame.headerSize))
            TraceCodec.encode(records[start..<end], into: &frame, readEnvelope: readEnvelope)
            frame.withUnsafeMutableBytes { CRCFrame.seal($0.baseAddress!, frameSize: $0.count) }
            let written = append(frame, records: UInt64(end - start))
            state.withLock {
                if written { $0.statistics.written += UInt64(end - start) } else { $0.statistics.failed += UInt64(end - start) }
            }
            start = end
        }
    }

    private func append(_ frame: [UInt8], records: UInt64) -> Bool {
        state.withLock { state in
            if state.descriptor < 0 || (state.segments.last.map { $0.length > 0 && $0.length + frame.count > configuration.segmentBytes } ?? true) {
                guard openSegment(&state) else { return false }
            }
            let ok = frame.withUnsafeBytes { bytes in
                var done = 0
                while done < bytes.count {
                    let result = Glibc.write(state.descriptor, bytes.baseAddress! + done, bytes.count - done)
                    if result < 0 && errno == EINTR { continue }
                    guard result > 0 else { return false }
                    done += result
                }
                return true
            }
            guard ok else {
                // A partial frame would hide every later one from searches: cut it off.
                if let length = state.segments.last?.length { _ = ftruncate(state.descriptor, off_t(length)) }
                return false
            }
            state.segments[state.segments.count - 1].length += frame.count
            state.statistics.storedBytes += Int64(frame.count)
            state.nextSequence += records
            return true
        }
    }

    /// Opens the segment new records go to: the last one if it has room, else a new one.
    private func openSegment(_ state: inout State) -> Bool {
        if state.descriptor >= 0 {
            Glibc.close(state.descriptor)
            state.descriptor = -1
        }
        if let last = state.segments.last, last.length < configuration.segmentBytes {
            state.descriptor = open(last.path, O_WRONLY | O_APPEND | O_CLOEXEC)
            if state.descriptor >= 0 { return true }
        }
        let segment = TraceSegment(
            path: configuration.directory + "/" + TraceSegment.name(firstSequence: state.nextSequence),
            firstSequence: state.nextSequence, length: 0)
        state.descriptor = open(segment.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard state.descriptor >= 0 else { return false }
        if state.segments.last?.length == 0 { state.segments.removeLast() }
        state.segments.append(segment)
        return true
    }

    /// Deletes the oldest segments while the log is over ``TraceLogConfiguration/maxBytes`` or
    /// they are older than ``TraceLogConfiguration/maxAgeSeconds``; the newest always stays.
    func applyRetention(now: Date) {
        state.withLock { state in
            while state.segments.count > 1 {
                let oldest = state.segments[0]
                let total = state.segments.reduce(Int64(0)) { $0 + Int64($1.length) }
                let modified = (try? FileManager.default.attributesOfItem(atPath: oldest.path)[.modificationDate] as? Date) ?? nil
                let expired = configuration.maxAgeSeconds.map { age in
                    modified.map { now.timeIntervalSince($0) > Double(age) } ?? false
                } ?? false
                guard total > configuration.maxBytes || expired else { break }
                unlink(oldest.path)
                state.segments.removeFirst()
                state.statistics.expired += state.segments[0].firstSequence - oldest.firstSequence
                state.statistics.storedBytes -= Int64(oldest.length)
            }
        }
    }

    /// Makes what was written durable (a graceful stop keeps it across a power cut too) and
    /// closes the file.
    func close() {
        state.withLock { state in
            guard state.descriptor >= 0 else { return }
            _ = fdatasync(state.descriptor)
            Glibc.close(state.descriptor)
            state.descriptor = -1
        }
    }
}
