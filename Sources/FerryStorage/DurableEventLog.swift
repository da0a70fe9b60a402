import FerryRuntime
import Foundation

/// The durable ``EventLog``: a segmented, CRC-checked log per topic under
/// `<directory>/topics/<topic>/` (group state lives beside it, in ``DurableGroupStateStore``).
///
/// Appends are written at once and synced by a ``Syncer`` thread per each topic's fsync
/// policy; ``durableEnd(topic:)`` says how far a topic is durable, and the broker confirms
/// and delivers only that far. For topics that fsync, a ``Preallocator`` thread keeps a zeroed
/// runway ahead of each active segment so that those fsyncs flush data only.
public final class DurableEventLog: EventLog {
    public let configuration: DurableStoreConfiguration
    public private(set) var recovery = LogRecoveryReport()
    private let topicsDirectory: URL
    private var logs: [String: TopicLog] = [:]
    private let syncer = Syncer()
    private let preallocator: Preallocator
    private let unsyncedBudget: UnsyncedBudget
    /// Closes idle segment files past the descriptor budget.
    private let descriptors: DescriptorCache
    /// Topics appended to since the last flush, with their end offset.
    private var unsynced: [String: UInt64] = [:]
    /// When idle topics were last parked (monotonic nanoseconds).
    private var lastParking: MonotonicInstant?

    private var closed = false

    /// Opens the log, creating the directory if needed and recovering every topic.
    public init(configuration: DurableStoreConfiguration) throws(StorageError) {
        self.configuration = configuration
        let started = Date()
        let root = URL(fileURLWithPath: configuration.directory)
        topicsDirectory = root.appendingPathComponent("topics")
        do {
            try FileManager.default.createDirectory(at: topicsDirectory, withIntermediateDirectories: true)
        } catch {
            throw StorageError(.io, "cannot create the data directory \(topicsDirectory.path): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: topicsDirectory.path) else {
            throw StorageError(.io, "the data directory \(root.path) is not writable")
        }
        // The entry of `topics/` (new on a first start) reaches the disk before anything under
        // it is confirmed; each new segment syncs the two directories below. The data
        // directory's parent may not be readable to us: its sync is best effort.
        try SegmentFile.syncDirectory(root.path)
        try? SegmentFile.syncDirectory(root.deletingLastPathComponent().path)
        preallocator = Preallocator(configuration: configuration.runway)
        unsyncedBudget = UnsyncedBudget(limit: configuration.maxUnsyncedBytes)
        descriptors = DescriptorCache(capacity: configuration.maxOpenSegmentFiles ?? max(64, Self.descriptorLimit / 2))
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: topicsDirectory.path)) ?? []).sorted()
        for name in names {
            var segmentRecovery = Segment.Recovery()
            let log = try TopicLog(
                name: name, directory: topicsDirectory.appendingPathComponent(name), configuration: configuration.configuration(for: name),
                preallocator: preallocator, unsyncedBudget: unsyncedBudget, descriptors: descriptors, recovery: &segmentRecovery)
            logs[name] = log
            recovery.topics += 1
            recovery.records += segmentRecovery.records
            recovery.truncatedBytes += segmentRecovery.truncatedBytes
            recovery.corruptRecords += segmentRecovery.corruptRecords
            recovery.lostEvents += segmentRecovery.lostEvents
            recovery.skippedBytes += segmentRecovery.skippedBytes
            recovery.problems += segmentRecovery.problems.map { "topic \(name): \($0)" }
            var damage = StorageDamage()
            damage.corruptRegions = segmentRecovery.corruptRecords
            damage.lostEvents = segmentRecovery.lostEvents
            damage.skippedBytes = segmentRecovery.skippedBytes
            damage.truncatedBytes = segmentRecovery.truncatedBytes
            if !damage.isEmpty { recovery.damage[name] = damage }
        }
        recovery.seconds = Date().timeIntervalSince(started)
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        flush()
        syncer.stop()
        preallocator.stop()
        for log in logs.values { log.close() }
    }

    private func log(for topic: String) throws(StorageError) -> TopicLog {
        if let log = logs[topic] { return log }
        // A new topic takes up to two descriptors (data and runway): idle files are closed, or
        // idle topics parked (their files close once their runway is gone), to make room.
        if descriptors.openCount + 2 > descriptors.capacity {
            descriptors.trim(toAtMost: descriptors.capacity - 2)
        }
        guard descriptors.openCount + 2 <= descriptors.capacity || parkIdleTopics(needing: 2) > 0 else {
            throw StorageError(
                .descriptors,
                "topic '\(topic)' was not created: segment files hold \(descriptors.openCount) file descriptors, the budget of "
                    + "\(descriptors.capacity) (half of ferryd's limit of \(Self.descriptorLimit)), and no idle topic can give any up; "
                    + "retry later, or raise the limit (ulimit -n, LimitNOFILE=)")
        }
        var unused = Segment.Recovery()
        let log = try TopicLog(
            name: topic, directory: topicsDirectory.appendingPathComponent(topic), configuration: configuration.configuration(for: topic),
            preallocator: preallocator, unsyncedBudget: unsyncedBudget, descriptors: descriptors, recovery: &unused)
        logs[topic] = log
        return log
    }

    public func append(topic: String, events: [NewEvent]) throws(StorageError) -> [UInt64] {
        let log = try log(for: topic)
        let offsets = try log.append(events)
        if log.configuration.fsync == .never {
            log.durableEnd = log.nextOffset
        } else {
            unsynced[topic] = log.nextOffset
        }
        return offsets
    }

    public func read(topic: String, from offset: UInt64, limit: Int) throws(StorageError) -> [StoredEvent] {
        try logs[topic]?.read(from: offset, limit: limit) ?? []
    }

    public func bounds(topic: String) -> Range<UInt64> {
        guard let log = logs[topic] else { return 0..<0 }
        return log.firstOffset..<log.nextOffset
    }

    public var topics: [String] { Array(logs.keys) }

    /// The process's descriptor limit (the soft `RLIMIT_NOFILE`).
    public static var descriptorLimit: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(clamping: limit.rlim_cur)
    }

    /// Descriptors segment files hold open now (data and runway).
    public var openSegmentDescriptors: Int { descriptors.openCount }

    public func damage(topic: String) -> StorageDamage { recovery.damage[topic] ?? StorageDamage() }
    /// Logical bytes held by all topics (a segment's zero runway is not counted).
    public var storedBytes: Int { logs.values.reduce(0) { $0 + $1.bytes } }

    public func storedBytes(topic: String) -> Int { logs[topic]?.bytes ?? 0 }

    public func takeSyncDurations() -> [Duration] { syncer.takeDurations() }

    /// Events stay until retention removes them.
    public func release(topic: String, below offset: UInt64) {}

    // MARK: - Durability

    public func durableEnd(topic: String) -> UInt64 { logs[topic]?.durableEnd ?? 0 }
    /// What the runway thread has done so far (for tests).
    var runwayStatistics: Preallocator.Statistics { preallocator.statistics }
    /// A topic's segment files (for tests).
    func segmentFiles(topic: String) -> [SegmentFile] { logs[topic]?.segments.map(\.file) ?? [] }
    /// Bytes of appends waiting for an fdatasync (for tests).
    var unsyncedBytesWaiting: Int { unsyncedBudget.waiting }
    /// The topic's segments (for tests).
    func segments(topic: String) -> [Segment] { logs[topic]?.segments ?? [] }
    public var syncNotificationDescriptor: Int32? { syncer.completions.fileDescriptor }

    public func flush() {
        for (topic, upTo) in unsynced {
            guard let log = logs[topic] else { continue }
            syncer.request(
                Syncer.Request(
                    topic: topic, upTo: upTo, files: log.files(since: log.durableEnd),
                    spacing: log.configuration.fsync == .batch ? .microseconds(log.configuration.batchWindowMicros) : .zero))
        }
        unsynced.removeAll(keepingCapacity: true)
        parkIdleTopics()
    }

    /// When segment files hold more descriptors than their budget, gives up the runway of the
    /// topics idle longest (their appends all durable), so that their files can be closed; the
    /// next append to one takes it up again. Checked at most every 100 ms.
    /// Returns how many topics it parked.
    /// How often idle topics are looked for when segment files hold too many descriptors.
    static let parkingInterval = Nanoseconds.milliseconds(100)

    @discardableResult
    private func parkIdleTopics(needing room: Int = 0) -> Int {
        let now = MonotonicInstant.now()
        let excess = descriptors.openCount + room - descriptors.capacity
        guard room > 0 || lastParking.map({ now - $0 >= Self.parkingInterval }) ?? true, excess > 0 else { return 0 }
        lastParking = now
        var parked = 0
        let idle = logs.values.filter {
            !$0.parked && now - $0.lastAppend >= .milliseconds(configuration.idleTopicMilliseconds) && unsynced[$0.name] == nil
        }
        for log in idle.sorted(by: { $0.lastAppend < $1.lastAppend }) where 2 * parked < excess {
            // Two descriptors each: the runway's and, once it is gone, the data's.
            if log.park() { parked += 1 }
        }
        return parked
    }

    public func collectSyncs() {
        for completion in syncer.completions.drain() {
            guard let log = logs[completion.topic] else { continue }
            if completion.error != nil {
                // Try again with the next flush; confirms wait until the data is durable.
                unsynced[completion.topic] = max(unsynced[completion.topic] ?? 0, completion.upTo)
            } else if completion.upTo > log.durableEnd {
                log.durableEnd = completion.upTo
            }
        }
    }

    // MARK: - Time, keys, retention

    public func offset(topic: String, atOrAfter timestampMicros: Int64) throws(StorageError) -> UInt64 {
        try logs[topic]?.offset(atOrAfter: timestampMicros) ?? 0
    }

    public func history(key: String, limit: Int) throws(StorageError) -> [(topic: String, event: StoredEvent)] {
        var found: [(topic: String, event: StoredEvent)] = []
        for name in logs.keys.sorted() where found.count < limit {
            found += try logs[name]!.events(withKey: key, limit: limit - found.count).map { (name, $0) }
        }
        return found
    }

    public func recentEventIDs(storedSince since: Int64, limit: Int) -> [(topic: String, id: String, offset: UInt64)] {
        var ids: [(topic: String, id: String, offset: UInt64)] = []
        for (name, log) in logs {
            ids += ((try? log.recentIDs(since: since, limit: limit)) ?? []).map { (name, $0.id, $0.offset) }
        }
        return Array(ids.suffix(limit))
    }

    public func recentEventIDs(topic: String, storedSince since: Int64, limit: Int) -> [(id: String, offset: UInt64)] {
        guard let log = logs[topic] else { return [] }
        return ((try? log.recentIDs(since: since, limit: limit)) ?? []).map { ($0.id, $0.offset) }
    }

    public func applyRetention(consumedBelow: [String: UInt64]) -> UInt64 {
        var dropped: UInt64 = 0
        let now = Date()
        for (name, log) in logs {
            dropped += log.applyRetention(consumedBelow: consumedBelow[name], now: now).droppedUnconsumed
        }
        return dropped
    }
}
