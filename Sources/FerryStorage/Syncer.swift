import FerryWakeup
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs fsyncs on its own thread so the broker loop never blocks on the disk.
///
/// Requests that arrive while a sync runs are served by the next one: group commit. For the
/// `batch` policy the syncer also spaces fsyncs at least a window apart, so that under load
/// each fsync covers a window's worth of appends, while an idle log syncs at once.
final class Syncer: Sendable {
    struct Request: Sendable {
        let topic: String
        /// Offsets below this become durable when `files` are synced.
        let upTo: UInt64
        let files: [SegmentFile]
        let windowMicros: Int
    }

    struct Completion: Sendable {
        let topic: String
        let upTo: UInt64
        let error: StorageError?
    }

    private let requests = WakeupQueue<Request?>()
    let completions = WakeupQueue<Completion>()
    private let stopped = DispatchSemaphore(value: 0)

    init() {
        DedicatedThread.start(name: "ferry-fsync") { [self] in run() }
    }

    func request(_ request: Request) { requests.push(request) }

    /// Finishes pending syncs and ends the thread.
    func stop() {
        requests.push(nil)
        stopped.wait()
    }

    private func run() {
        var descriptor = pollfd(fd: requests.fileDescriptor, events: Int16(POLLIN), revents: 0)
        var running = true
        var lastSync = DispatchTime.now().uptimeNanoseconds
        while running {
            _ = poll(&descriptor, 1, -1)
            var batch = requests.drain()
            if let window = batch.compactMap({ $0?.windowMicros }).max(), window > 0 {
                let since = (DispatchTime.now().uptimeNanoseconds - lastSync) / 1000
                if since < UInt64(window) {
                    usleep(UInt32(UInt64(window) - since))
                    batch += requests.drain()
                }
            }
            if batch.contains(where: { $0 == nil }) { running = false }
            let work = batch.compactMap { $0 }
            guard !work.isEmpty else { continue }
            var synced: [ObjectIdentifier: StorageError?] = [:]
            for request in work {
                for file in request.files where synced[ObjectIdentifier(file)] == nil {
                    do {
                        try file.sync()
                        synced[ObjectIdentifier(file)] = .some(nil)
                    } catch {
                        synced[ObjectIdentifier(file)] = .some(error)
                    }
                }
            }
            var done: [String: Completion] = [:]
            for request in work {
                let error = request.files.compactMap { synced[ObjectIdentifier($0)] ?? nil }.first
                if let previous = done[request.topic], previous.upTo >= request.upTo && previous.error == nil { continue }
                done[request.topic] = Completion(topic: request.topic, upTo: request.upTo, error: error)
            }
            lastSync = DispatchTime.now().uptimeNanoseconds
            completions.push(contentsOf: Array(done.values))
        }
        stopped.signal()
    }
}
