import Ferry
import Foundation
import Logging
import ServiceLifecycle

/// Publishes the outbox to ferryd, oldest first, and marks what ferryd confirmed. Woken by
/// every commit and, as a safety net, once a second; after a crash it publishes whatever a
/// commit left behind, and ferryd's dedup window swallows anything published twice.
final class OutboxRelay: Service, Sendable {
    private let store: OrderStore
    private let bus: EventBus
    private let logger: Logger
    private let held: Bool
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let batchSize = 500

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

    /// Publishes until the outbox is empty or ferryd fails; a failure waits for the next wake-up.
    private func publishPending() async {
        while !Task.isCancelled {
            do {
                let entries = try await store.pendingOutbox(limit: batchSize)
                if entries.isEmpty { return }
                _ = try await bus.publish(raw: entries.map(\.rawEvent))
                try await store.markPublished(entries)
                logger.debug("outbox published", metadata: ["events": "\(entries.count)"])
            } catch {
                logger.warning("outbox publish failed; retrying", metadata: ["error": "\(error)"])
                return
            }
        }
    }
}
