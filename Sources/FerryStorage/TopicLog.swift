import FerryRuntime
import Foundation

/// One topic's append-only log: a directory of segments named by their first offset.
final class TopicLog {
    let name: String
    let directory: URL
    let configuration: TopicLogConfiguration
    /// Keeps a zero runway ahead of the active segment; nil for `never` (no fsyncs to speed up).
    private let preallocator: Preallocator?
    /// Where appends waiting for an fdatasync are counted; nil for `never` (they wait for none).
    private let unsyncedBudget: UnsyncedBudget?
    /// Closes idle segments' descriptors (rolled ones, mostly) past the store's budget.
    private let descriptors: DescriptorCache?
    private(set) var segments: [Segment] = []
    /// When the log was last appended to (monotonic nanoseconds), to pick idle topics to park.
    private(set) var lastAppend = MonotonicInstant.now()
    /// The active segment gave up its runway (and so its descriptors) while the topic was idle;
    /// the next append takes it up again.
    private(set) var parked = false
    /// The most recently appended events, so that consumers that keep up read from memory.
    private var tail = TailCache(budgetBytes: TopicLog.tailBudgetBytes)
    static let tailBudgetBytes = 16 << 20
    /// Offsets below this are as durable as the fsync policy promises.
    var durableEnd: UInt64
    /// The first offset still held (segments before it were deleted by retention).
    var firstOffset: UInt64 { segments.first?.baseOffset ?? nextOffset }
    var nextOffset: UInt64 { segments.last?.nextOffset ?? 0 }
    /// Logical bytes held (runway not counted).
    var bytes: Int { segments.reduce(0) { $0 + $1.size } }

    /// Opens (recovering) or creates the log in `directory`.
    init(
        name: String, directory: URL, configuration: TopicLogConfiguration, preallocator: Preallocator?,
        unsyncedBudget: UnsyncedBudget?, descriptors: DescriptorCache? = nil, recovery: inout Segment.Recovery
    ) throws(StorageError) {
        self.name = name
        self.descriptors = descriptors
        self.directory = directory
        self.configuration = configuration
        self.preallocator = configuration.fsync == .never ? nil : preallocator
        self.unsyncedBudget = configuration.fsync == .never ? nil : unsyncedBudget
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw StorageError(.io, "cannot create \(directory.path): \(error.localizedDescription)")
        }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let bases = files.compactMap { name -> UInt64? in
            guard name.hasSuffix(".log") else { return nil }
            return UInt64(name.dropLast(4))
        }.sorted()
        var opened: [Segment] = []
        for base in bases {
            let path = directory.appendingPathComponent(Segment.fileName(baseOffset: base))
            opened.append(try Segment(existing: path, baseOffset: base, recovery: &recovery, cache: descriptors))
        }
        if configuration.fsync != .never && !opened.isEmpty { try Self.makeDurable(opened, in: directory) }
        // Drop empty segments but the last, and start one if there is none.
        let count = opened.count
        opened = opened.enumerated().filter { !$0.element.isEmpty || $0.offset == count - 1 }.map(\.element)
        if opened.isEmpty { opened.append(try Segment(directory: directory, baseOffset: 0, cache: descriptors)) }
        segments = opened
        durableEnd = opened[opened.count - 1].nextOffset
        // The runway starts with the first append: a store opening thousands of topics does not
        // open two descriptors and zero-fill a runway for each of them.
        parked = preallocator != nil
    }

    /// Syncs recovered segments and the directories that lead to them. What a killed ferryd
    /// wrote may still be only in the page cache; once the log is open it counts as durable
    /// (a publisher's resend of it is confirmed at once), so it must be on disk first.
    private static func makeDurable(_ segments: [Segment], in directory: URL) throws(StorageError) {
        for segment in segments { try segment.file.sync(writtenEnd: segment.size) }
        try SegmentFile.syncDirectory(directory.path)
        try SegmentFile.syncDirectory(directory.deletingLastPathComponent().path)
    }

    private func startRunway(_ segment: Segment) {
        guard let preallocator else { return }
        if segment.file.startRunway(dataEnd: segment.size, configuration: preallocator.configuration) {
            preallocator.extend(segment.file)
        }
    }

    /// Cuts a failed append's leftovers and drops the active segment's runway (the store is
    /// closing and its preallocator has stopped).
    func close() {
        try? segments.last?.cutLeftovers(syncing: configuration.fsync != .never)
        guard preallocator != nil, let active = segments.last, active.file.seal() else { return }
        try? active.file.truncateRunway()
    }

    /// Appends events and returns their offsets; the caller syncs per the policy.
    func append(_ events: [NewEvent]) throws(StorageError) -> [UInt64] {
        try rollIfNeeded()
        let segment = segments[segments.count - 1]
        lastAppend = MonotonicInstant.now()
        if parked && hasRoomForRunway() {
            parked = false
            segment.file.unseal()
            startRunway(segment)
        }
        var records: [(offset: UInt64, position: Int, timestamp: Int64)] = []
        records.reserveCapacity(events.count)
        let total = events.reduce(0) {
            $0 + LogRecord.size(keyBytes: $1.key.utf8.count, idBytes: $1.id.utf8.count, bodyBytes: $1.body.count)
        }
        // Every record written in place into one buffer, written to the file at once.
        let buffer = [UInt8](unsafeUninitializedCapacity: total) { raw, initialized in
            var position = 0
            var offset = segment.nextOffset
            for event in events {
                records.append((offset, position, event.timestampMicros))
                position += LogRecord.encode(
                    offset: offset, timestamp: event.timestampMicros, key: event.key, id: event.id, body: event.body,
                    at: UnsafeMutableRawPointer(raw.baseAddress! + position))
                offset += 1
            }
            initialized = position
        }
        if try segment.append(buffer, records: records, keepingWithin: unsyncedBudget) { preallocator?.extend(segment.file) }
        for (record, event) in zip(records, events) {
            tail.append(StoredEvent(offset: record.offset, key: event.key, timestampMicros: event.timestampMicros, body: event.body))
        }
        return records.map(\.offset)
    }

    /// Whether the descriptor budget has room for a runway (its descriptor, and the data one kept
    /// open while it lasts), closing idle files to make some; without room the append goes on
    /// without one (each of its fsyncs then also commits the file's growth).
    private func hasRoomForRunway() -> Bool {
        guard let descriptors else { return true }
        if descriptors.openCount + 2 > descriptors.capacity { descriptors.trim(toAtMost: descriptors.capacity - 2) }
        return descriptors.openCount + 2 <= descriptors.capacity
    }

    /// Gives up the active segment's runway so that the descriptor cache can close its files
    /// while the topic is idle. Only for a log whose appends are all durable.
    @discardableResult
    func park() -> Bool {
        guard !parked, let preallocator, let active = segments.last, durableEnd == nextOffset else { return false }
        parked = true
        preallocator.seal(active.file)
        return true
    }

    private func rollIfNeeded() throws(StorageError) {
        let active = segments[segments.count - 1]
        guard !active.isEmpty else { return }
        let tooBig = active.size >= configuration.segmentBytes
        let tooOld = Date().timeIntervalSince(active.createdAt) >= Double(configuration.segmentAgeSeconds)
        guard tooBig || tooOld else { return }
        try active.cutLeftovers(syncing: configuration.fsync != .never)
        let next = try Segment(directory: directory, baseOffset: active.nextOffset, cache: descriptors)
        segments.append(next)
        // The rolled segment ends at its logical size; the new one gets the runway.
        preallocator?.seal(active.file)
        startRunway(next)
    }

    /// Up to `limit` events from `offset` (or the first held one).
    func read(from offset: UInt64, limit: Int) throws(StorageError) -> [StoredEvent] {
        var next = max(offset, firstOffset)
        // Recent events come from memory.
        if let recent = tail.events(from: next, limit: limit) { return recent }
        var events: [StoredEvent] = []
        guard let first = segmentIndex(containing: next) else { return [] }
        // A few events (a retry's one) sit within an index interval or two of the scan's start.
        let firstChunk = limit <= 16 ? 4 * Segment.indexInterval : 256 << 10
        for segment in segments[first...] where events.count < limit {
            try segment.scan(from: segment.scanStart(for: next), firstChunkBytes: firstChunk) { header, bytes in
                if header.offset >= next { events.append(Self.storedEvent(header, in: bytes)) }
                return events.count < limit
            }
            next = segment.nextOffset
        }
        return events
    }

    /// The first offset whose event was stored at or after `timestamp`.
    func offset(atOrAfter timestamp: Int64) throws(StorageError) -> UInt64 {
        for segment in segments where segment.lastTimestamp >= timestamp {
            var found: UInt64?
            try segment.scan(from: segment.scanStart(forTimestamp: timestamp)) { header, _ in
                if header.timestamp >= timestamp { found = header.offset }
                return found == nil
            }
            if let found { return found }
        }
        return nextOffset
    }

    /// Every held event with `key`, in offset order.
    func events(withKey key: String, limit: Int) throws(StorageError) -> [StoredEvent] {
        var events: [StoredEvent] = []
        for segment in segments where events.count < limit {
            try segment.scan(from: 0) { header, bytes in
                if header.key(in: bytes) == key { events.append(Self.storedEvent(header, in: bytes)) }
                return events.count < limit
            }
        }
        return events
    }

    private static func storedEvent(_ header: LogRecord.Header, in bytes: UnsafeRawBufferPointer) -> StoredEvent {
        StoredEvent(
            offset: header.offset, key: header.key(in: bytes), timestampMicros: header.timestamp, body: Array(bytes[header.bodyRange]))
    }

    /// Event ids and offsets stored at or after `timestamp`, to rebuild the dedup window.
    func recentIDs(since timestamp: Int64, limit: Int) throws(StorageError) -> [(id: String, offset: UInt64)] {
        var ids: [(String, UInt64)] = []
        for segment in segments.reversed() where segment.lastTimestamp >= timestamp {
            var found: [(String, UInt64)] = []
            try segment.scan(from: segment.scanStart(forTimestamp: timestamp)) { header, bytes in
                if header.timestamp >= timestamp && !header.idRange.isEmpty { found.append((header.id(in: bytes), header.offset)) }
                return true
            }
            ids.insert(contentsOf: found, at: 0)
            if ids.count >= limit { break }
        }
        return Array(ids.suffix(limit))
    }

    /// Deletes whole segments past the retention limits. `consumedBelow` is the lowest cursor
    /// of the groups reading this topic (nil when none does). Returns events dropped unconsumed.
    func applyRetention(consumedBelow: UInt64?, now: Date) -> (deletedSegments: Int, droppedUnconsumed: UInt64) {
        let policy = configuration.retention
        var deleted = 0
        var dropped: UInt64 = 0
        while segments.count > 1 {
            let oldest = segments[0]
            let expired =
                policy.maxAgeSeconds.map { Double(oldest.lastTimestamp) / 1_000_000 < now.timeIntervalSince1970 - Double($0) } ?? false
            let oversized = policy.maxBytes.map { bytes > $0 } ?? false
            guard expired || oversized else { break }
            let unconsumed = consumedBelow.map { $0 < oldest.nextOffset } ?? false
            if unconsumed && policy.keepUnconsumed { break }
            if unconsumed, let consumedBelow { dropped += oldest.nextOffset - max(consumedBelow, oldest.baseOffset) }
            try? FileManager.default.removeItem(atPath: oldest.file.path)
            segments.removeFirst()
            deleted += 1
        }
        return (deleted, dropped)
    }

    private func segmentIndex(containing offset: UInt64) -> Int? {
        guard offset < nextOffset else { return nil }
        var low = 0
        var high = segments.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if segments[middle].baseOffset <= offset { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// Files of segments rolled since the last sync still need one.
    func files(since offset: UInt64) -> [Syncer.Target] {
        segments.filter { $0.nextOffset > offset }.map { Syncer.Target(file: $0.file, writtenEnd: $0.size) }
    }
}
