import FerryRuntime
import FerryStorage
import Foundation
import Synchronization
import Testing

/// A wall clock a test moves by hand.
private final class ManualWallClock: Sendable {
    private let micros = Mutex<Int64>(1_767_225_600_000_000)
    var now: Int64 { micros.withLock { $0 } }
    func advance(byMilliseconds milliseconds: Int64) { micros.withLock { $0 += milliseconds * 1000 } }
}

/// Reads the scheduler's answers until `done` says it has what it waits for, with a deadline.
private func answers(of scheduler: Scheduler, within limit: Duration = .seconds(10), until done: ([Scheduler.Answer]) -> Bool)
    -> [Scheduler.Answer]
{
    var collected: [Scheduler.Answer] = []
    let deadline = MonotonicInstant.now() + Nanoseconds(limit)
    while !done(collected) && MonotonicInstant.now() < deadline {
        _ = readableDescriptors([scheduler.answers.fileDescriptor], timeout: .milliseconds(50))
        collected += scheduler.answers.drain()
    }
    return collected
}

private func dueEvents(_ answers: [Scheduler.Answer]) -> [ScheduledEvent] {
    answers.flatMap { answer -> [ScheduledEvent] in
        if case .due(let events) = answer { return events }
        return []
    }
}

private func event(_ id: String, topic: String = "reminders", key: String = "k", dueIn milliseconds: Int64, from now: Int64)
    -> ScheduledEvent
{
    ScheduledEvent(topic: topic, id: id, key: key, dueMicros: now + milliseconds * 1000, body: Array(id.utf8))
}

@Suite("Scheduler: scheduled events kept on disk and handed over when due (manual clock)")
struct SchedulerTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scheduler-\(UUID().uuidString)")

    init() throws { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }

    private var path: String { directory.appendingPathComponent("schedule.sqlite").path }

    @Test("nothing is handed over before it is due; then in due order, ties in the order scheduled")
    func dueOrder() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualWallClock()
        let scheduler = try Scheduler(database: ScheduleDatabase(path: path), clock: { clock.now })
        defer { scheduler.close() }
        let now = clock.now
        scheduler.schedule(
            [event("c", dueIn: 300, from: now), event("a", dueIn: 100, from: now), event("b", dueIn: 100, from: now)], ticket: 1)
        let stored = answers(of: scheduler) { $0.contains { if case .scheduled(1, _) = $0 { true } else { false } } }
        guard case .scheduled(_, let outcomes) = stored.first(where: { if case .scheduled = $0 { true } else { false } }) else {
            Issue.record("no answer")
            return
        }
        #expect(outcomes == [.scheduled(dueMicros: now + 300_000), .scheduled(dueMicros: now + 100_000), .scheduled(dueMicros: now + 100_000)])
        #expect(dueEvents(stored).isEmpty)
        #expect(scheduler.summary.events == 3)
        #expect(scheduler.summary.byTopic == ["reminders": 3])

        clock.advance(byMilliseconds: 99)
        scheduler.tick()
        #expect(dueEvents(answers(of: scheduler, within: .milliseconds(200)) { _ in false }).isEmpty, "1 ms early")
        clock.advance(byMilliseconds: 1)
        scheduler.tick()
        let first = dueEvents(answers(of: scheduler) { dueEvents($0).count >= 2 })
        #expect(first.map(\.id) == ["a", "b"], "ties go in the order scheduled")
        clock.advance(byMilliseconds: 200)
        scheduler.tick()
        let second = dueEvents(answers(of: scheduler) { dueEvents($0).count >= 1 })
        #expect(second.map(\.id) == ["c"])
        #expect(second.first?.body == Array("c".utf8))
    }

    @Test("a fired event leaves the schedule; one handed over but not reported fired comes again after a restart")
    func firedAndRestart() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualWallClock()
        var scheduler = try Scheduler(database: ScheduleDatabase(path: path), clock: { clock.now })
        let now = clock.now
        scheduler.schedule([event("one", dueIn: 10, from: now), event("two", dueIn: 10, from: now)], ticket: 1)
        _ = answers(of: scheduler) { $0.contains { if case .scheduled = $0 { true } else { false } } }
        clock.advance(byMilliseconds: 10)
        scheduler.tick()
        let due = dueEvents(answers(of: scheduler) { dueEvents($0).count >= 2 })
        #expect(due.map(\.id) == ["one", "two"])
        scheduler.fired([due[0].sequence])
        #expect(waitUntil { scheduler.summary.events == 1 })
        scheduler.close()

        scheduler = try Scheduler(database: ScheduleDatabase(path: path), clock: { clock.now })
        defer { scheduler.close() }
        #expect(scheduler.summary.events == 1, "the fired one is gone, the other is still there")
        let again = dueEvents(answers(of: scheduler) { dueEvents($0).count >= 1 })
        #expect(again.map(\.id) == ["two"], "handed over again: the broker's dedup window decides if it was appended")
    }

    @Test("the same topic and id is one scheduled event; a cancel removes it before it is due, not after")
    func duplicatesAndCancel() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualWallClock()
        let scheduler = try Scheduler(database: ScheduleDatabase(path: path), clock: { clock.now })
        defer { scheduler.close() }
        let now = clock.now
        scheduler.schedule([event("x", dueIn: 1000, from: now), event("y", dueIn: 50, from: now)], ticket: 1)
        scheduler.schedule([event("x", dueIn: 5000, from: now)], ticket: 2)
        let stored = answers(of: scheduler) { $0.count >= 2 }
        let second = stored.compactMap { answer -> [ScheduleOutcome]? in
            if case .scheduled(2, let outcomes) = answer { return outcomes }
            return nil
        }
        #expect(second == [[.duplicate(dueMicros: now + 1_000_000)]])

        scheduler.cancel(topic: "reminders", id: "x", ticket: 3)
        scheduler.cancel(topic: "reminders", id: "nope", ticket: 4)
        let cancels = answers(of: scheduler) { $0.count >= 2 }
        #expect(cancels.contains { if case .cancelled(3, .cancelled(dueMicros: now + 1_000_000)) = $0 { true } else { false } })
        #expect(cancels.contains { if case .cancelled(4, .notScheduled) = $0 { true } else { false } })

        clock.advance(byMilliseconds: 50)
        scheduler.tick()
        #expect(dueEvents(answers(of: scheduler) { dueEvents($0).count >= 1 }).map(\.id) == ["y"])
        scheduler.cancel(topic: "reminders", id: "y", ticket: 5)
        let late = answers(of: scheduler) { !$0.isEmpty }
        #expect(late.contains { if case .cancelled(5, .alreadyDue) = $0 { true } else { false } }, "handed over: too late")
        clock.advance(byMilliseconds: 2000)
        scheduler.tick()
        #expect(dueEvents(answers(of: scheduler, within: .milliseconds(200)) { _ in false }).isEmpty, "the cancelled one never comes due")
    }

    @Test("an event scheduled after later ones were handed over, but due before them, is handed over at once")
    func lateInsert() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualWallClock()
        let scheduler = try Scheduler(database: ScheduleDatabase(path: nil), clock: { clock.now })
        defer { scheduler.close() }
        let now = clock.now
        scheduler.schedule([event("later", dueIn: 100, from: now)], ticket: 1)
        clock.advance(byMilliseconds: 100)
        scheduler.tick()
        #expect(dueEvents(answers(of: scheduler) { dueEvents($0).count >= 1 }).map(\.id) == ["later"])
        scheduler.schedule([event("earlier", dueIn: 50, from: now)], ticket: 2)
        #expect(dueEvents(answers(of: scheduler) { dueEvents($0).count >= 1 }).map(\.id) == ["earlier"])
    }

    @Test("commands take effect in the order they came: a cancel before a schedule of the same id leaves it scheduled")
    func commandOrder() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualWallClock()
        let scheduler = try Scheduler(database: ScheduleDatabase(path: nil), clock: { clock.now })
        defer { scheduler.close() }
        let now = clock.now
        scheduler.cancel(topic: "reminders", id: "r", ticket: 1)
        scheduler.schedule([event("r", dueIn: 100, from: now)], ticket: 2)
        scheduler.cancel(topic: "reminders", id: "s", ticket: 3)
        let answered = answers(of: scheduler) { $0.count >= 3 }
        #expect(answered.contains { if case .cancelled(1, .notScheduled) = $0 { true } else { false } })
        #expect(answered.contains { if case .scheduled(2, let outcomes) = $0 { outcomes == [.scheduled(dueMicros: now + 100_000)] } else { false } })
        clock.advance(byMilliseconds: 100)
        scheduler.tick()
        #expect(dueEvents(answers(of: scheduler) { dueEvents($0).count >= 1 }).map(\.id) == ["r"], "the earlier cancel did not remove it")
    }

    @Test("after the clock steps back, an event scheduled behind what was handed over still waits for its time")
    func clockStepsBack() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualWallClock()
        let scheduler = try Scheduler(database: ScheduleDatabase(path: nil), clock: { clock.now })
        defer { scheduler.close() }
        scheduler.schedule([event("first", dueIn: 100, from: clock.now)], ticket: 1)
        clock.advance(byMilliseconds: 100)
        scheduler.tick()
        #expect(dueEvents(answers(of: scheduler) { dueEvents($0).count >= 1 }).map(\.id) == ["first"])
        clock.advance(byMilliseconds: -10_000)
        scheduler.schedule([event("later", dueIn: 1000, from: clock.now)], ticket: 2)
        #expect(dueEvents(answers(of: scheduler, within: .milliseconds(300)) { _ in false }).isEmpty, "handed over before its time")
        clock.advance(byMilliseconds: 1000)
        scheduler.tick()
        #expect(dueEvents(answers(of: scheduler) { dueEvents($0).count >= 1 }).map(\.id) == ["later"])
    }

    @Test("past its limits the schedule refuses events; a retry hands them over again after a pause")
    func limitsAndRetry() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualWallClock()
        let scheduler = try Scheduler(
            database: ScheduleDatabase(path: nil), limits: ScheduleLimits(maxEvents: 2, maxBytes: 1 << 20), clock: { clock.now })
        defer { scheduler.close() }
        let now = clock.now
        scheduler.schedule([event("1", dueIn: 10, from: now), event("2", dueIn: 10, from: now), event("3", dueIn: 10, from: now)], ticket: 1)
        let stored = answers(of: scheduler) { !$0.isEmpty }
        guard case .scheduled(1, let outcomes) = stored.first else {
            Issue.record("no answer: \(stored)")
            return
        }
        #expect(outcomes.prefix(2) == [.scheduled(dueMicros: now + 10_000), .scheduled(dueMicros: now + 10_000)])
        if case .refused(let error) = outcomes[2] { #expect(error.code == .full) } else { Issue.record("not refused: \(outcomes[2])") }

        clock.advance(byMilliseconds: 10)
        scheduler.tick()
        let due = dueEvents(answers(of: scheduler) { dueEvents($0).count >= 2 })
        scheduler.retry(due.map(\.sequence))
        scheduler.tick()
        #expect(dueEvents(answers(of: scheduler, within: .milliseconds(200)) { _ in false }).isEmpty, "paused after a failed append")
        clock.advance(byMilliseconds: 1000)
        scheduler.tick()
        #expect(dueEvents(answers(of: scheduler) { dueEvents($0).count >= 2 }).map(\.id) == ["1", "2"])
    }
}

/// Polls `condition` until it holds or 10 s passed.
private func waitUntil(_ condition: () -> Bool) -> Bool {
    let deadline = MonotonicInstant.now() + Nanoseconds.seconds(10)
    while !condition() {
        if MonotonicInstant.now() >= deadline { return false }
        usleep(5000)
    }
    return true
}
