import FerryRuntime

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
        /// How long to gather more requests after the last sync (`batch`); zero for none.
        let window: Duration
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

    /// Requests; nil ends the thread.
    private let thread = LoopThread<Request?>(name: "ferry-fsync")
    let completions = WakeupQueue<Completion>()

    init() {
        thread.start { [self] in run() }
    }

    func request(_ request: Request) { thread.commands.push(request) }

    /// Finishes pending syncs and ends the thread.
    func stop() {
        thread.stop(sending: nil)
    }

    private func run() {
        let requests = thread.commands
        var running = true
        var lastSync = MonotonicInstant.now()
        while running {
            requests.wait()
            var batch = requests.drain()
            if let window = batch.compactMap({ $0?.window }).max(), window > .zero {
                let due = lastSync + window
                if MonotonicInstant.now() < due {
                    due.sleepUntil()
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
            lastSync = MonotonicInstant.now()
            completions.push(contentsOf: Array(done.values))
        }
    }
}
