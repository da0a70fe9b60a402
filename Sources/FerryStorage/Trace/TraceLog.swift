import FerryRuntime
public import Foundation
import Synchronization

/// The trace log: an append-only record of what the broker did with each event, beside the
/// event log and kept apart from it.
///
/// The broker hands over records in batches (``submit(_:)``, a lock and a wake-up per batch);
/// a thread of its own encodes and writes them, one CRC frame per batch, into segments that
/// retention deletes whole. Nothing here is synced before the broker goes on: a crash may lose
/// the last records, never an event. When the writer falls behind by
/// ``TraceLogConfiguration/maxQueuedRecords``, new records are dropped and counted.
/// ``search(_:)`` reads the segments from any thread.
public final class TraceLog: Sendable {
    enum Command: Sendable {
        case records([TraceRecord])
        case retention(Date)
    }

    public let configuration: TraceLogConfiguration
    private let thread = LoopThread<Command?>(name: "ferry-trace")
    private let writer: TraceWriter
    private let queued = Atomic<Int>(0)
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

    /// Queues records for writing, in order; drops them (counted) when the writer is too far
    /// behind.
    public func submit(_ records: [TraceRecord]) {
        guard !records.isEmpty else { return }
        let waiting = queued.add(records.count, ordering: .relaxed).newValue
        if waiting > configuration.maxQueuedRecords {
            queued.subtract(records.count, ordering: .relaxed)
            dropped.add(UInt64(records.count), ordering: .relaxed)
            return
        }
        thread.commands.push(.records(records))
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
        while true {
            thread.commands.wait(timeout: .seconds(1))
            var stop = false
            for command in thread.commands.drain() {
                switch command {
                case .records(let batch):
                    queued.subtract(batch.count, ordering: .relaxed)
                    writer.write(batch, readEnvelope: readEnvelope)
                case .retention(let now): writer.applyRetention(now: now)
                case nil: stop = true
                }
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
