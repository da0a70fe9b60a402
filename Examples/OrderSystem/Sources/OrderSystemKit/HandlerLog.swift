public import Ferry
public import Logging

/// How the order-system workers log what their handlers do: a debug line per handled event,
/// and one concise info line per notable thing (a retry, a failed attempt, a dead letter).
public struct HandlerLog: Sendable {
    public let logger: Logger
    /// The group's deliveries before the dead-letter queue, to tell a last attempt apart.
    public let maxAttempts: Int

    public init(logger: Logger, maxAttempts: Int) {
        self.logger = logger
        self.maxAttempts = maxAttempts
    }

    /// Runs a single event's handler body, logging its outcome.
    public func handle<T>(_ what: String, _ context: EventContext, _ body: () async throws -> T) async throws -> T {
        try await handle(
            what, event: context.eventID, attempt: context.attempt, lastError: context.lastError, group: context.group, body)
    }

    /// Runs a batch handler body, logging its outcome.
    public func handle<T>(_ what: String, _ context: BatchContext, _ body: () async throws -> T) async throws -> T {
        let first = context.events.first?.id ?? "-"
        return try await handle(
            what, event: "\(first) (+\(max(context.events.count - 1, 0)))", attempt: context.attempt, lastError: nil,
            group: context.group, body)
    }

    private func handle<T>(
        _ what: String, event: String, attempt: UInt32, lastError: String?, group: String, _ body: () async throws -> T
    ) async throws -> T {
        var metadata: Logger.Metadata = ["group": "\(group)", "event": "\(event)", "attempt": "\(attempt)"]
        if attempt > 1 {
            logger.info("retrying \(what)", metadata: metadata.merging(["last_error": "\(lastError ?? "-")"]) { $1 })
        }
        do {
            let result = try await body()
            logger.debug("handled \(what)", metadata: metadata)
            return result
        } catch let error as DeadLetterError {
            logger.info("dead-lettering \(what): \(error.reason)", metadata: metadata)
            throw error
        } catch {
            metadata["error"] = "\(error)"
            let outcome = attempt >= maxAttempts ? "last attempt failed, ferryd dead-letters it" : "failed, ferryd retries with backoff"
            logger.info("\(what) \(outcome)", metadata: metadata)
            throw error
        }
    }
}
