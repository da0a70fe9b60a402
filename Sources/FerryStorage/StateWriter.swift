import FerryWakeup
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Saves group state on its own thread, so a SQLite write (and the occasional WAL checkpoint)
/// never stalls the broker loop. Saves are applied in order; a failed one is retried with the
/// next, and its error is reported to the next caller.
final class StateWriter: Sendable {
    private enum Work: Sendable {
        case save(GroupStateChanges)
        case barrier(DispatchSemaphore)
        case stop
    }

    private let database: GroupStateDatabase
    private let queue = WakeupQueue<Work>()
    private let lastError = Mutex<StorageError?>(nil)
    private let stopped = DispatchSemaphore(value: 0)

    init(database: GroupStateDatabase) {
        self.database = database
        DedicatedThread.start(name: "ferry-state") { [self] in run() }
    }

    /// Queues a save; throws the error of an earlier save that failed (it is being retried).
    func save(_ changes: GroupStateChanges) throws(StorageError) {
        queue.push(.save(changes))
        if let error = lastError.withLock({ $0 }) { throw error }
    }

    /// Returns once everything queued so far is saved (or has failed).
    func flush() {
        let done = DispatchSemaphore(value: 0)
        queue.push(.barrier(done))
        done.wait()
    }

    func stop() {
        queue.push(.stop)
        stopped.wait()
    }

    private func run() {
        var descriptor = pollfd(fd: queue.fileDescriptor, events: Int16(POLLIN), revents: 0)
        var failed: [GroupStateChanges] = []
        var running = true
        while running {
            _ = poll(&descriptor, 1, failed.isEmpty ? -1 : 1000)
            var batch = failed
            var barriers: [DispatchSemaphore] = []
            for work in queue.drain() {
                switch work {
                case .save(let changes): batch.append(changes)
                case .barrier(let semaphore): barriers.append(semaphore)
                case .stop: running = false
                }
            }
            if !batch.isEmpty {
                do {
                    try database.save(batch)
                    failed = []
                    lastError.withLock { $0 = nil }
                } catch {
                    failed = batch
                    lastError.withLock { $0 = error }
                }
            }
            for barrier in barriers { barrier.signal() }
        }
        stopped.signal()
    }
}
