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
        let files: [Target]
        let windowMicros: Int
    }

    /// A file to sync, and how far appends had written it when the sync was asked for.
    struct Target: Sendable {
        let file: SegmentFile
        let writtenEnd: Int
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
            // Each file once, as far as the latest request for it had written.
            var targets: [ObjectIdentifier: Target] = [:]
            for request in work {
                for target in request.files {
                    let id = ObjectIdentifier(target.file)
                    if let known = targets[id], known.writtenEnd >= target.writtenEnd { continue }
                    targets[id] = target
                }
            }
            var synced: [ObjectIdentifier: StorageError?] = [:]
            for (id, target) in targets {
                do {
                    try target.file.sync(writtenEnd: target.writtenEnd)
                    synced[id] = .some(nil)
                } catch {
                    synced[id] = .some(error)
                }
            }
            var done: [String: Completion] = [:]
            for request in work {
                let error = request.files.compactMap { synced[ObjectIdentifier($0.file)] ?? nil }.first
                if let previous = done[request.topic], previous.upTo >= request.upTo && previous.error == nil { continue }
                done[request.topic] = Completion(topic: request.topic, upTo: request.upTo, error: error)
            }
            lastSync = DispatchTime.now().uptimeNanoseconds
            completions.push(contentsOf: Array(done.values))
        }
        stopped.signal()
    }
}
