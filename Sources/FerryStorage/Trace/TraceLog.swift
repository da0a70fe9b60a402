import FerryRuntime
public import Foundation
import Synchronization

/// The trace log: an append-only record of what the broker did with each event, beside the
/// event log and kept apart from it.
///
/// The broker stages records in a ``TraceBatch`` (numbers and bytes, names numbered once) and
/// hands each over whole (``submit(_:)``: a lock per batch); a thread of its
/// own takes what was handed over every ``writeInterval`` (sooner when much is waiting), so
/// that the broker's every pass does not wake it (at 10 000 events/s that cost a fifth of the
/// p99 on two vCPUs; every 20 ms made bursts that doubled it), and encodes and writes each
/// batch as one CRC frame into segments that
/// retention deletes whole. Nothing here is synced before the broker goes on: a crash may lose
/// the last records, never an event. When the writer falls behind by
/// ``TraceLogConfiguration/maxQueuedRecords``, new records are dropped and counted.
/// ``search(_:)`` reads the segments from any thread.
public final class TraceLog: Sendable {
    enum Command: Sendable {
        /// Many records wait: write them now.
        case wake
        case retention(Date)
    }

    /// How long handed-over records may wait for the writer.
    static let writeInterval = Duration.milliseconds(2)
    /// Records waiting past which the writer is woken at once.
    static let wakeThreshold = 4096

    public let configuration: TraceLogConfiguration
    private let thread = LoopThread<Command?>(name: "ferry-trace")
    private let writer: TraceWriter
    private let queued = Atomic<Int>(0)
    private let queuedBytes = Atomic<Int>(0)
    /// Batches handed over and not taken by the writer yet, in order.
    private let pending = Mutex<[TraceBatch]>([])
    private let dropped = Atomic<UInt64>(0)
    /// Reads a `published` record's event fields from the stored envelope (the storage knows
    /// nothing of the wire format: the broker says how).
    private let readEnvelope: @Sendable (UnsafeRawBufferPointer) -> TraceRecord.EnvelopeLayout

    /// Opens (or creates) the trace log in the configured directory: a torn last batch from a
    /// crash is cut off. Throws when the directory cannot be used. `readEnvelope` reads the
    /// fields of records handed over with an ``TraceRecord/envelope``.
    public init(
        configuration: TraceLogConfiguration,
        readEnvelope: @escaping @Sendable (UnsafeRawBufferPointer) -> TraceRecord.EnvelopeLayout = { _ in TraceRecord.EnvelopeLayout() }
    ) throws(StorageError) {
        self.configuration = configuration
        self.readEnvelope = readEnvelope
        writer = try TraceWriter(configuration: configuration)
        thread.start { [self] in run() }
    }

    /// Queues a batch of records for writing, in order; drops it (counted) when the writer is
    /// too far behind. The caller does not touch `batch` afterwards.
    public func submit(_ batch: TraceBatch) {
        guard batch.count > 0 else { return }
        let bytes = batch.byteCount
        let waiting = queued.add(batch.count, ordering: .relaxed).newValue
        let waitingBytes = queuedBytes.add(bytes, ordering: .relaxed).newValue
        if waiting > configuration.maxQueuedRecords || waitingBytes > configuration.maxQueuedBytes {
            queued.subtract(batch.count, ordering: .relaxed)
            queuedBytes.subtract(bytes, ordering: .relaxed)
            dropped.add(UInt64(batch.count), ordering: .relaxed)
            return
        }
        pending.withLock { $0.append(batch) }
        if waiting >= Self.wakeThreshold && waiting - batch.count < Self.wakeThreshold { thread.commands.push(.wake) }
    }

    /// Queues `records` for writing, in order, as one batch (names numbered afresh: for callers
    /// off the hot path).
    public func submit(_ records: [TraceRecord]) {
        var table = TraceNameTable()
        let batch = TraceBatch(names: table.names)
        for record in records { batch.append(record, numberingIn: &table) }
        submit(batch)
    }

    /// Deletes the segments past the retention limits as of `now` (the writer also does so
    /// every second with the wall clock).
    public func applyRetention(now: Date) { thread.commands.push(.retention(now)) }

    /// What the log has written, dropped and deleted so far.
    public var statistics: TraceLogStatistics {
        var statistics = writer.statistics
        statistics.dropped = dropped.load(ordering: .relaxed)
        return statistics
    }

    /// The segments as far as they are written, oldest first.
    var segments: [TraceSegment] { writer.segments }

    /// Writes what is queued and ends the writer. Records submitted afterwards are dropped.
    public func close() { thread.stop(sending: nil) }

    private func run() {
        var lastRetention = Date()
        var names = TraceCodec.NameResolver()
        while true {
            thread.commands.wait(timeout: Self.writeInterval)
            var stop = false
            for command in thread.commands.drain() {
                switch command {
                case .wake: break
                case .retention(let now): writer.applyRetention(now: now)
                case nil: stop = true
                }
            }
            let batches = pending.withLock { batches in
                defer { batches.removeAll(keepingCapacity: true) }
                return batches
            }
            if !batches.isEmpty {
                writer.write(batches, names: &names, readEnvelope: readEnvelope)
                queued.subtract(batches.reduce(0) { $0 + $1.count }, ordering: .relaxed)
                queuedBytes.subtract(batches.reduce(0) { $0 + $1.byteCount }, ordering: .relaxed)
            }
            if Date().timeIntervalSince(lastRetention) >= 1 {
                lastRetention = Date()
                writer.applyRetention(now: lastRetention)
            }
            if stop {
                writer.close()
                return
            }
        }
    }
}
