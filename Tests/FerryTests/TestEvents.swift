import Ferry
import FerryTestSupport
import Foundation
import Synchronization

struct OrderCreated: Event {
    let orderID: String
    let amount: Int
    var eventKey: String? { orderID }
}

struct PaymentProcessed: Event {
    let orderID: String
    let paymentID: String
}

struct OrderShipped: Event {
    let orderID: String
    let trackingNumber: String
}

struct UserAction: Event {
    let userID: String
    let action: String
}

struct Sequenced: Event {
    static let topic = "test.sequenced"
    let key: String
    let sequence: Int
    var eventKey: String? { key }
}

struct Flaky: Event {
    let id: Int
}

/// Collects values from handlers running on any task.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])

    func append(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
    var count: Int { values.withLock { $0.count } }
}

/// A worker running in this process for the duration of a test.
final class RunningWorker: Sendable {
    let worker: Worker
    private let task: Task<Void, any Error>

    init(_ worker: Worker) async throws {
        self.worker = worker
        task = Task { try await worker.run() }
        let ready = await Wait.until(timeout: .seconds(10)) {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    await worker.waitUntilReady()
                    return true
                }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(200))
                    return false
                }
                let result = await group.next()!
                group.cancelAll()
                return result
            }
        }
        if !ready {
            worker.stop()
            _ = try? await task.value
            throw Ferryd.StartError(description: "worker \(worker.name) did not subscribe within 10 s")
        }
    }

    func stop() async throws {
        worker.stop()
        try await task.value
    }
}

func client(_ ferryd: Ferryd, _ name: String = "test") -> ClientConfiguration {
    var configuration = ClientConfiguration(endpoint: ferryd.endpoint, clientName: name)
    configuration.requestTimeout = .seconds(10)
    return configuration
}
