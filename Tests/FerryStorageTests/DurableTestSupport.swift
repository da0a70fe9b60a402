import FerryStorage
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh path under the system temporary directory; the store creates it. Remove it with
/// ``removeTemporaryDirectory(_:)`` in a `defer`.
func makeTemporaryDirectory() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("ferry-storage-tests-\(UUID().uuidString)", isDirectory: true)
}

func removeTemporaryDirectory(_ directory: URL) {
    try? FileManager.default.removeItem(at: directory)
}

/// Opens a durable log in `directory`; fsync is `.never` unless `configure` says otherwise.
func openStore(_ directory: URL, _ configure: (inout DurableStoreConfiguration) -> Void = { _ in }) throws -> DurableEventLog {
    var configuration = DurableStoreConfiguration(directory: directory.path)
    configuration.defaults.fsync = .never
    configure(&configuration)
    return try DurableEventLog(configuration: configuration)
}

/// Opens a durable group-state store in `directory`.
func openGroupState(_ directory: URL, _ configure: (inout DurableStoreConfiguration) -> Void = { _ in }) throws -> DurableGroupStateStore {
    var configuration = DurableStoreConfiguration(directory: directory.path)
    configure(&configuration)
    return try DurableGroupStateStore(configuration: configuration)
}

/// The segment files of `topic`, sorted by name (= by base offset).
func segmentFiles(_ directory: URL, topic: String) -> [URL] {
    let topicDirectory = directory.appendingPathComponent("topics").appendingPathComponent(topic)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: topicDirectory.path)) ?? []
    return names.filter { $0.hasSuffix(".log") }.sorted().map { topicDirectory.appendingPathComponent($0) }
}

/// The base offset a segment file is named by.
func baseOffset(_ file: URL) -> UInt64? { UInt64(file.deletingPathExtension().lastPathComponent) }

func fileSize(_ file: URL) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? NSNumber)?.intValue ?? -1
}

/// Bytes one record takes on disk (see LogRecord): u32 length, u32 crc, u64 offset, i64 timestamp,
/// u16 + key, u16 + id, body.
func recordSize(key: String = "", id: String = "", bodyCount: Int) -> Int {
    4 + 4 + 8 + 8 + 2 + key.utf8.count + 2 + id.utf8.count + bodyCount
}

/// Where the body of a record starting at `position` begins.
func bodyPosition(recordAt position: Int, key: String = "", id: String = "") -> Int {
    position + 4 + 4 + 8 + 8 + 2 + key.utf8.count + 2 + id.utf8.count
}

func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

/// An event whose 8-byte body encodes `n` (see ``value(_:)``).
func item(_ n: UInt64, key: String = "k", timestamp: Int64 = 1_000, id: String = "") -> NewEvent {
    NewEvent(key: key, timestampMicros: timestamp, body: body(n), id: id)
}

/// Appends one event per call (so segments can roll between them) and returns the offsets.
@discardableResult
func appendEach(_ store: any EventLog, topic: String, _ events: [NewEvent]) throws -> [UInt64] {
    var offsets: [UInt64] = []
    for event in events { offsets += try store.append(topic: topic, events: [event]) }
    return offsets
}

/// Waits, polling the store's sync descriptor, until `topic` is durable up to `end`.
/// Returns false if `timeout` passes first.
func waitUntilDurable(_ store: DurableEventLog, topic: String, end: UInt64, timeout: Duration = .seconds(10)) -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        store.collectSyncs()
        if store.durableEnd(topic: topic) >= end { return true }
        let remaining = deadline - clock.now
        if remaining <= .zero { return false }
        guard let descriptor = store.syncNotificationDescriptor else { return false }
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = min(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000, 200)
        _ = poll(&entry, 1, Int32(max(milliseconds, 1)))
    }
}

/// Overwrites bytes of a file at `position`.
func overwrite(_ file: URL, at position: Int, with bytes: [UInt8]) throws {
    let handle = try FileHandle(forWritingTo: file)
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(position))
    try handle.write(contentsOf: Data(bytes))
}

func readBytes(_ file: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: file)) }
