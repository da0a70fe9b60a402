import FerryRuntime
import Synchronization

/// Runs fsyncs on its own thread so the broker loop never blocks on the disk.
///
/// Leader/follower group commit: a sync starts as soon as a request arrives and none is running,
/// and every request that arrives while it runs is served by the next one, which starts as soon
/// as it ends. An idle disk costs a request nothing; under load each fsync covers what arrived
/// during the previous one. A `batch` topic configured with a spacing (`batch_window_us`) also
/// keeps fsyncs at least that far apart.
final class Syncer: Sendable {
    struct Request: Sendable {
        let topic: String
        /// Offsets below this become durable when `files` are synced.
        let upTo: UInt64
        let files: [Target]
        /// The least time between the last sync and the next (`batch_window_us`); zero for none.
        let spacing: Duration
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
    /// How long recent fdatasyncs took, for a histogram; bounded, the oldest dropped first.
    private let durations = Mutex<[Duration]>([])
    /// The most durations kept between two ``takeDurations()``.
    static let maxKeptDurations = 4096

    /// The durations of the fdatasyncs made since the last call, oldest first.
    func takeDurations() -> [Duration] {
        durations.withLock { kept in
            defer { kept.removeAll(keepingCapacity: true) }
            return kept
        }
    }

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
        var lastSync: MonotonicInstant?
        while running {
            requests.wait()
            var batch = requests.drain()
            // Spaced only while every request asks for a spacing: an `always` topic's request (or
            // the stop) ends the wait, and the spaced ones share its fsync.
            while let lastSync, !batch.contains(where: { $0 == nil }),
                let spacing = batch.compactMap({ $0?.spacing }).min(), spacing > .zero
            {
                let now = MonotonicInstant.now()
                let due = lastSync + spacing
                guard now < due else { break }
                requests.wait(timeout: (due - now).duration)
                batch += requests.drain()
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
            var took: [Duration] = []
            for (id, target) in targets {
                let start = MonotonicInstant.now()
                do {
                    try target.file.sync(writtenEnd: target.writtenEnd)
                    synced[id] = .some(nil)
                } catch {
                    synced[id] = .some(error)
                }
                took.append(start.duration(to: MonotonicInstant.now()))
            }
            durations.withLock { kept in
                kept += took
                if kept.count > Self.maxKeptDurations { kept.removeFirst(kept.count - Self.maxKeptDurations) }
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
