import FerryRuntime
import FerryStorage
import Foundation
import Testing

/// The implementations every contract case runs against, as NATS runs its store tests on both
/// its memory and its file store: a case that passes on one and fails on the other is a bug in
/// one of them, or a promise the protocol does not make.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory
    case durable

    var testDescription: String { rawValue }

    /// Opens an empty event log of this kind (the durable one fsyncs per `batch`, its default),
    /// runs `body` on it, then closes it and removes its directory.
    func withLog<T>(_ body: (any EventLog) throws -> T) throws -> T {
        switch self {
        case .memory:
            return try body(InMemoryEventLog())
        case .durable:
            let directory = makeTemporaryDirectory()
            defer { removeTemporaryDirectory(directory) }
            let log = try DurableEventLog(configuration: DurableStoreConfiguration(directory: directory.path))
            defer { log.close() }
            return try body(log)
        }
    }

    /// Opens an empty group-state store of this kind, runs `body` on it, then closes it and
    /// removes its directory.
    func withGroupState<T>(_ body: (any GroupStateStore) throws -> T) throws -> T {
        switch self {
        case .memory:
            return try body(InMemoryGroupStateStore())
        case .durable:
            let directory = makeTemporaryDirectory()
            defer { removeTemporaryDirectory(directory) }
            let store = try openGroupState(directory)
            defer { store.close() }
            return try body(store)
        }
    }
}

/// Waits (with a deadline) until `log` reports `topic` durable up to `end`, flushing and
/// taking sync completions as the broker's loop does.
func waitUntilDurable(_ log: any EventLog, topic: String, end: UInt64, timeout: Duration = .seconds(10)) -> Bool {
    log.flush()
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        log.collectSyncs()
        if log.durableEnd(topic: topic) >= end { return true }
        guard let descriptor = log.syncNotificationDescriptor else { return false }
        _ = readableDescriptors([descriptor], timeout: .milliseconds(10))
    }
    return false
}
