import FerryRuntime
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs one load plan against a broker: starts the consumer threads (subscribed before anything
/// is published), then the publisher threads, shows progress while they run, and gathers what
/// every thread measured. Each thread owns its socket; no task is created per message.
struct LoadRun {
    let plan: LoadPlan
    let endpoint: String
    /// Draws the live progress line on stderr.
    let progress: ProgressLine?
    /// CURVE keys, when the broker serves CURVE.
    var curve: BenchCurve? = nil

    /// What the threads measured, before it is turned into a report.
    struct Outcomes {
        var publishers: [PublisherOutcome]
        var consumers: [ConsumerOutcome]
        var scheduleStart: MonotonicInstant
        var notSustained: Bool
        var generatorCPUSeconds: Double
    }

    func run() throws -> Outcomes {
        let plan = plan
        let endpoint = endpoint
        let curve = curve
        let coordinator = LoadCoordinator(publishers: plan.publishers, groups: plan.groups)
        let interrupt = InterruptWatch { coordinator.abort() }
        defer { interrupt.cancel() }
        let cpuBefore = BenchProcess.processCPUSeconds()
        let runTag = UUID().uuidString.prefix(8).lowercased()
        let threads = DispatchGroup()

        // Consumers first: every member subscribed before the first publish.
        let consumerSlots = (0..<plan.groups * plan.workersPerGroup).map { _ in Slot<ConsumerOutcome>() }
        for (slotIndex, slot) in consumerSlots.enumerated() {
            let group = slotIndex / plan.workersPerGroup
            start(threads, slot, name: "bench-consumer-\(slotIndex)", coordinator: coordinator) { ready in
                let consumer = try LoadConsumer(
                    group: group, groupName: "bench-\(runTag)-\(group)", member: slotIndex % plan.workersPerGroup, plan: plan,
                    endpoint: endpoint, curve: curve, coordinator: coordinator)
                ready()
                return try consumer.run()
            }
        }
        try waitUntilReady(consumerSlots, coordinator: coordinator)

        let gate = StartGate(waiters: plan.publishers)
        let publisherSlots = (0..<plan.publishers).map { _ in Slot<PublisherOutcome>() }
        for (index, slot) in publisherSlots.enumerated() {
            start(threads, slot, name: "bench-publisher-\(index)", coordinator: coordinator) { ready in
                let publisher = try LoadPublisher(index: index, plan: plan, endpoint: endpoint, curve: curve, coordinator: coordinator)
                ready()
                return try publisher.run(start: gate.wait())
            }
        }
        try waitUntilReady(publisherSlots, coordinator: coordinator)
        let scheduleStart = MonotonicInstant.now() + Nanoseconds.milliseconds(plan.scheduleDelayMilliseconds)
        gate.open(at: scheduleStart)

        let began = MonotonicInstant.now()
        let deadline = plan.durationSeconds.map { began + Duration.seconds($0) }
        while threads.wait(timeout: .now() + .milliseconds(100)) == .timedOut {
            let now = MonotonicInstant.now()
            if let deadline, now >= deadline { coordinator.stopPublishing() }
            progress?.update(coordinator.snapshot, elapsed: (now - began).seconds)
        }
        progress?.finish()
        if interrupt.fired { throw BenchError(.interrupted, "interrupted") }
        return Outcomes(
            publishers: try publisherSlots.map { try $0.get() }, consumers: try consumerSlots.map { try $0.get() },
            scheduleStart: scheduleStart, notSustained: coordinator.wasNotSustained,
            generatorCPUSeconds: BenchProcess.processCPUSeconds() - cpuBefore)
    }

    /// Starts a thread that runs `body` and stores its result in `slot`; an error stops the run.
    private func start<T: Sendable>(
        _ threads: DispatchGroup, _ slot: Slot<T>, name: String, coordinator: LoadCoordinator,
        _ body: @escaping @Sendable (_ ready: () -> Void) throws -> T
    ) {
        threads.enter()
        DedicatedThread.start(name: name, stackSize: 4 << 20) {
            let result = Result { try body { slot.markReady() } }
            if case .failure = result { coordinator.abort() }
            slot.set(result)
            threads.leave()
        }
    }

    /// Waits until every slot's thread is connected (or one failed, which is thrown).
    private func waitUntilReady<T>(_ slots: [Slot<T>], coordinator: LoadCoordinator) throws {
        while !slots.allSatisfy({ $0.isReadyOrDone }) { MonotonicInstant.sleep(for: .milliseconds(1)) }
        for slot in slots { if let error = slot.failure { throw error } }
    }
}

/// One thread's result, handed back to the coordinating thread.
final class Slot<T: Sendable>: @unchecked Sendable {
    // @unchecked: every stored property is accessed under `lock`.
    private let lock = NSLock()
    private var result: Result<T, any Error>?
    private var ready = false

    func markReady() { lock.withLock { ready = true } }
    func set(_ result: Result<T, any Error>) { lock.withLock { self.result = result } }
    var isReadyOrDone: Bool { lock.withLock { ready || result != nil } }

    var failure: (any Error)? {
        lock.withLock {
            if case .failure(let error) = result { return error }
            return nil
        }
    }

    func get() throws -> T {
        guard let result = lock.withLock({ result }) else { throw BenchError(.interrupted, "a bench thread did not finish") }
        return try result.get()
    }
}

/// Holds the publishers until the schedule's start is known.
final class StartGate: @unchecked Sendable {
    // @unchecked: `start` is written before `semaphore` is signalled and read after the wait.
    private let semaphore = DispatchSemaphore(value: 0)
    private var start = MonotonicInstant(nanoseconds: 0)
    private let waiters: Int

    init(waiters: Int) { self.waiters = waiters }

    func wait() -> MonotonicInstant {
        semaphore.wait()
        return start
    }

    func open(at start: MonotonicInstant) {
        self.start = start
        for _ in 0..<waiters { semaphore.signal() }
    }
}
