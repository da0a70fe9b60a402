import ArgumentParser
import Ferry
import Foundation
import Logging
import Synchronization

/// Publishes or consumes events through the Swift SDK on command, so that clients written in
/// other languages can be tested against it.
@main
struct FerryInterop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry-interop",
        abstract: "Swift side of Ferry's cross-language tests.",
        subcommands: [Consume.self, Publish.self])
}

/// The event the interop tests exchange.
struct InteropPing: Event {
    let seq: Int
    let from: String
}

/// Prints one JSON object per line on stdout.
func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Handle COUNT events of TOPIC in GROUP, printing each as JSON.")

    @Option var endpoint: String
    @Option var group: String
    @Option var topic: String
    @Option var count: Int
    @Option var timeoutSeconds: Int = 30
    @Option(help: "Keep each event this long before acking it (to hold events in flight).")
    var handlerDelayMs: Int = 0
    @Option(help: "Credit: the most unsettled deliveries this member holds.")
    var maxInFlight: Int = 256

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let worker = Worker(name: "ferry-interop", configuration: ClientConfiguration(endpoint: endpoint, clientName: "ferry-interop"))
        let seen = Counter()
        let expected = count
        var options = HandlerGroupOptions()
        options.maxInFlight = maxInFlight
        let delay = handlerDelayMs
        worker.group(group, options: options) { handlers in
            handlers.onRaw(topic: topic) { event, context in
                emit([
                    "id": event.id, "topic": event.topic, "key": event.key ?? "", "type": event.typeName,
                    "payload": String(decoding: event.payload, as: UTF8.self), "attempt": context.attempt,
                ])
                if delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
                if seen.increment() == expected { worker.stop() }
            }
        }
        let timeout = Task {
            try await Task.sleep(for: .seconds(timeoutSeconds))
            worker.stop()
        }
        try await worker.run()
        timeout.cancel()
        if seen.value < expected { throw ExitCode(2) }
    }
}

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish COUNT InteropPing events to TOPIC and wait for confirms.")

    @Option var endpoint: String
    @Option var topic: String
    @Option var count: Int
    @Option var prefix: String

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let bus = try EventBus(configuration: ClientConfiguration(endpoint: endpoint, clientName: "ferry-interop"))
        let events = try (0..<count).map { index in
            RawEvent(
                topic: topic, id: "\(prefix)-\(index)", key: "k-\(index % 4)", type: "InteropPing",
                payload: try JSONEncoder().encode(InteropPing(seq: index, from: "swift")))
        }
        let receipts = try await bus.publish(raw: events)
        await bus.close()
        emit(["published": receipts.count])
    }
}

/// A thread-safe counter.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() -> Int {
        count.withLock {
            $0 += 1
            return $0
        }
    }
    var value: Int { count.withLock { $0 } }
}
