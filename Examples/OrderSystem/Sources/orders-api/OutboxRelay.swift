import Ferry
import Foundation
import Logging
import OrderSystemKit
import ServiceLifecycle
import Synchronization

/// Publishes the outbox to ferryd, oldest first, and marks what ferryd confirmed. Woken by
/// every commit and, as a safety net, once a second; after a crash it publishes whatever a
/// commit left behind, and ferryd's dedup window swallows anything published twice.
///
/// An event ferryd refuses for good (``FerryError/isPermanentRejection``: an invalid field, a
/// payload or event too large) is marked dead in the outbox (the `dead_outbox` view), logged and counted, and the
/// relay goes on with the events behind it: one bad event never blocks the others. An event
/// that can succeed later (ferryd down, out of room, shutting down) stays in the outbox, and the
/// relay tries again at its next wake-up.
final class OutboxRelay: Service, Sendable {
    private let store: OrderStore
    private let bus: EventBus
    private let logger: Logger
    private let held: Bool
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let batchSize = 500
    /// Payload bytes one publish carries at most (unless its first event alone is larger).
    private let batchBytes = 8 << 20
    private let failure = Mutex<String?>(nil)

    /// Why the last publish failed in a way worth retrying (ferryd down, out of room, …); nil
    /// once a publish goes through. `/health` shows it as `outboxError`.
    var lastError: String? { failure.withLock { $0 } }

    /// - Parameter held: publish nothing (a fault-injection switch for tests: the process can
    ///   be killed with committed but unpublished events).
    init(store: OrderStore, bus: EventBus, held: Bool, logger: Logger) {
        self.store = store
        self.bus = bus
        self.held = held
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Tells the relay a transaction added events.
    func notify() { wake.yield() }

    func run() async throws {
        if held {
            logger.warning("outbox relay held: committed events stay unpublished")
            try? await gracefulShutdown()
            return
        }
        let ticker = Task { [wake] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                wake.yield()
            }
        }
        defer { ticker.cancel() }
        wake.yield()
        await cancelWhenGracefulShutdown {
            var lastPrune = ContinuousClock.now
            for await _ in self.wakeups {
                await self.publishPending()
                if ContinuousClock.now - lastPrune > .seconds(60) {
                    lastPrune = .now
                    try? await self.store.prunePublished(olderThan: 86_400)
                }
            }
        }
    }

    /// Publishes until the outbox is empty or ferryd fails in a way worth retrying; such a
    /// failure waits for the next wake-up.
    private func publishPending() async {
        while !Task.isCancelled {
            do {
                let entries = try await store.pendingOutbox(limit: batchSize, maxBytes: batchBytes)
                if entries.isEmpty {
                    failure.withLock { $0 = nil }
                    return
                }
                let outcomes = await bus.publishEach(raw: entries.map(\.rawEvent))
                var published: [OutboxEntry] = []
                var rejected: [(entry: OutboxEntry, code: String, message: String)] = []
                var retryable: FerryError?
                for (entry, outcome) in zip(entries, outcomes) {
                    switch outcome {
                    case .success: published.append(entry)
                    case .failure(let error) where error.isPermanentRejection:
                        rejected.append((entry, error.code.name, error.message))
                    case .failure(let error): retryable = retryable ?? error
                    }
                }
                try await store.markPublished(published)
                try await store.park(rejected)
                // Each refused event is logged (the first few of a batch; the rest are counted).
                for (entry, code, message) in rejected.prefix(10) {
                    logger.error(
                        "outbox event refused by ferryd for good; kept in dead_outbox",
                        metadata: [
                            "event": "\(entry.eventID)", "type": "\(entry.type)", "key": "\(entry.key.truncated(toUTF8Bytes: 80))",
                            "code": "\(code)", "error": "\(message)",
                        ])
                }
                if rejected.count > 10 {
                    logger.error("\(rejected.count - 10) more outbox events refused by ferryd for good; kept in dead_outbox")
                }
                logger.debug("outbox published", metadata: ["events": "\(published.count)", "dead": "\(rejected.count)"])
                if let retryable {
                    failed(retryable)
                    return
                }
                failure.withLock { $0 = nil }
            } catch {
                failed(error)
                return
            }
        }
    }

    private func failed(_ error: any Error) {
        failure.withLock { $0 = "\(error)" }
        logger.warning("outbox publish failed; retrying", metadata: ["error": "\(error)"])
    }
}
