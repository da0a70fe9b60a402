import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A write-ahead journal of cursor positions, kept between the group-state database's saves.
///
/// Under load nearly every group-state save moves only cursors (acks advance them), and one
/// runs every few milliseconds. A SQLite transaction for each costs the machine far more than
/// the save is worth (on a 2-vCPU host it was the largest cause of ferryd's p99 latency at
/// 10k events/s), so the ``StateWriter`` appends cursor-only saves here instead: one `pwrite`
/// of a CRC-framed record, into the page cache, so a killed ferryd loses none of it; the state
/// thread fdatasyncs it at most a configured interval later, which bounds what a power cut
/// can take (those acks' events are delivered again). From time to time, and before any save that changes more than cursors,
/// the writer folds the journal into the database and empties it. The database records the
/// sequence number of the last record folded, so records left behind by a crash between the
/// fold and the emptying are not applied twice.
///
/// A record is a ``CRCFrame`` whose content is:
/// ```
/// u64 sequence
/// u32 cursor count, then per cursor:
///     u32 group length, group bytes, u32 topic length, topic bytes, u64 next,
///     u32 in-flight count, then (u64 offset, u32 attempt) per in-flight offset
/// ```
/// All integers little-endian. A value type used by one thread at a time: opened and
/// recovered by the store's opener, then handed to the state thread.
struct CursorJournal: Sendable {
    /// One cursor-only save.
    struct Record: Sendable, Equatable {
        var sequence: UInt64
        var cursors: [CursorState]
    }

    /// What reading the journal found.
    struct Contents: Sendable {
        var records: [Record] = []
        /// Bytes cut off the end: a torn or corrupt record and everything after it.
        var truncatedBytes = 0
        var problem: String?
    }

    let path: String
    private let descriptor: Int32
    /// The end of the valid records; the next append goes here.
    private(set) var size = 0
    /// An append failed and the journal could not be cut back to its last valid record, so it
    /// must not be appended to until it has been emptied.
    private(set) var damaged = false

    init(path: String) throws(StorageError) {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StorageError.posix("open \(path)") }
        self.path = path
        var info = stat()
        size = fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
    }

    func close() { Glibc.close(descriptor) }

    /// Reads every valid record. A torn or corrupt record ends the journal: it and anything
    /// after it are cut off, so later appends follow the last valid record.
    mutating func read() throws(StorageError) -> Contents {
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let result = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, size - filled, off_t(filled)) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { throw StorageError.posix("read \(path)") }
            filled += result
        }
        var contents = Contents()
        var position = 0
        while position < bytes.count {
            switch Self.parse(bytes, at: position) {
            case .record(let record, let next):
                contents.records.append(record)
                position = next
                continue
            case .incomplete:
                contents.problem = "torn record at byte \(position) of \(path)"
            case .corrupt(let reason):
                contents.problem = "corrupt record at byte \(position) of \(path) (\(reason))"
            }
            break
        }
        if position < bytes.count {
            contents.truncatedBytes = bytes.count - position
            try truncate(to: position)
        }
        return contents
    }

    /// Appends one record. On failure the journal is cut back to where it was, so a partial
    /// record never sits in front of later ones.
    mutating func append(_ record: Record) throws(StorageError) {
        let bytes = Self.encode(record)
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes {
                pwrite(descriptor, $0.baseAddress! + written, bytes.count - written, off_t(size + written))
            }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else {
                let error = StorageError.posix("write \(path)")
                if ftruncate(descriptor, off_t(size)) != 0 { damaged = true }
                throw error
            }
            written += result
        }
        size += bytes.count
    }

    /// Makes the records appended so far durable (`fdatasync`); false when the sync failed, and
    /// what it should have covered may never reach the disk.
    func sync() -> Bool {
        while fdatasync(descriptor) != 0 {
            if errno != EINTR { return false }
        }
        return true
    }

    /// Empties the journal (its records are in the database).
    mutating func removeAll() throws(StorageError) { try truncate(to: 0) }

    private mutating func truncate(to length: Int) throws(StorageError) {
        guard ftruncate(descriptor, off_t(length)) == 0 else { throw StorageError.posix("truncate \(path)") }
        size = length
        damaged = false
    }

    // MARK: - Encoding

    static func encode(_ record: Record) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]
        append(record.sequence, to: &bytes)
        append(UInt32(record.cursors.count), to: &bytes)
        for cursor in record.cursors {
            append(cursor.group, to: &bytes)
            append(cursor.topic, to: &bytes)
            append(cursor.next, to: &bytes)
            append(UInt32(cursor.inFlight.count), to: &bytes)
            for pending in cursor.inFlight {
                append(pending.offset, to: &bytes)
                append(pending.attempt, to: &bytes)
            }
        }
        bytes.withUnsafeMutableBytes { CRCFrame.seal($0.baseAddress!, frameSize: $0.count) }
        return bytes
    }

    private static func append<Integer: FixedWidthInteger>(_ value: Integer, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func append(_ string: String, to bytes: inout [UInt8]) {
        append(UInt32(string.utf8.count), to: &bytes)
        bytes.append(contentsOf: string.utf8)
    }

    enum ParseResult {
        case record(Record, next: Int)
        case incomplete
        case corrupt(String)
    }

    static func parse(_ bytes: [UInt8], at position: Int) -> ParseResult {
        let content: Range<Int>
        switch bytes.withUnsafeBytes({ CRCFrame.check($0, at: position, minimumContent: 12) }) {
        case .valid(let range): content = range
        case .incomplete: return .incomplete
        case .corrupt(let reason): return .corrupt(reason)
        }
        var reader = Reader(bytes: bytes, position: content.lowerBound, end: content.upperBound)
        guard let sequence = reader.integer(UInt64.self), let count = reader.integer(UInt32.self) else {
            return .corrupt("short header")
        }
        var cursors: [CursorState] = []
        for _ in 0..<count {
            guard let group = reader.string(), let topic = reader.string(), let next = reader.integer(UInt64.self),
                let pendingCount = reader.integer(UInt32.self)
            else { return .corrupt("cursor overruns the record") }
            var inFlight: [PendingOffset] = []
            for _ in 0..<pendingCount {
                guard let offset = reader.integer(UInt64.self), let attempt = reader.integer(UInt32.self) else {
                    return .corrupt("in-flight offsets overrun the record")
                }
                inFlight.append(PendingOffset(offset: offset, attempt: attempt))
            }
            cursors.append(CursorState(group: group, topic: topic, next: next, inFlight: inFlight))
        }
        guard reader.position == reader.end else { return .corrupt("trailing bytes in the record") }
        return .record(Record(sequence: sequence, cursors: cursors), next: reader.end)
    }

    /// Reads little-endian fields up to `end`; nil when a field would overrun it.
    private struct Reader {
        let bytes: [UInt8]
        var position: Int
        let end: Int

        mutating func integer<Integer: FixedWidthInteger>(_ type: Integer.Type) -> Integer? {
            let width = MemoryLayout<Integer>.size
            guard end - position >= width else { return nil }
            defer { position += width }
            return bytes.withUnsafeBytes { Integer(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: Integer.self)) }
        }

        mutating func string() -> String? {
            guard let count = integer(UInt32.self).map(Int.init), end - position >= count else { return nil }
            defer { position += count }
            return String(decoding: bytes[position..<(position + count)], as: UTF8.self)
        }
    }
}
