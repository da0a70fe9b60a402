public import FerryRuntime
import Synchronization

/// Keeps events published for later and hands each to the broker when it is due, on its own
/// thread (`ferry-schedule`), so that neither the schedule's fsyncs nor its reads hold up the
/// broker loop.
///
/// The broker sends commands (``schedule(_:ticket:)``, ``cancel(topic:id:ticket:)``,
/// ``fired(_:)``, ``retry(_:)``) and reads ``answers`` when its descriptor is readable. Commands
/// that arrive together are committed in one transaction: one fsync for many publishes.
///
/// Due events are handed over in (due time, sequence) order, a batch at a time, and at most
/// ``maxOutstanding`` wait to be appended: memory holds a position in the schedule and those
/// batches, whatever the number scheduled. An event stays in the schedule until the broker
/// reports it ``fired(_:)`` (appended and durable); after a crash, whatever was handed over but
/// not reported is handed over again, and the broker's dedup window (rebuilt from the log)
/// recognises those already appended.
///
/// The time comes from `clock` (wall-clock microseconds), so tests drive it by hand and wake
/// the thread with ``tick()``.
public final class Scheduler: Sendable {
    enum Command: Sendable {
        case schedule([ScheduledEvent], ticket: UInt64)
        case cancel(topic: String, id: String, ticket: UInt64)
        case fired([Int64])
        case retry([Int64])
        case tick
        case stop
    }

    /// What the scheduler tells the broker.
    public enum Answer: Sendable {
        /// The outcome of each event of ``schedule(_:ticket:)``, in order.
        case scheduled(ticket: UInt64, [ScheduleOutcome])
        case cancelled(ticket: UInt64, CancelOutcome)
        /// Events now due, in order: append them, then report them with ``fired(_:)``.
        case due([ScheduledEvent])
    }

    /// Most due events handed over and not yet reported fired or retried.
    public static let maxOutstanding = 10_000
    /// Most events in one ``Answer/due(_:)``.
    public static let dueBatch = 1_000
    /// Longest sleep: a clock that jumps is noticed within it.
    static let longestWait = Duration.seconds(1)
    /// How long handing over pauses after the broker could not append (a full disk, say).
    static let retryPauseMicros: Int64 = 1_000_000

    private let thread = LoopThread<Command>(name: "ferry-schedule")
    /// Poll its descriptor; drain it when readable.
    public let answers = WakeupQueue<Answer>()
    private let shared: Mutex<ScheduleSummary>
    private let database: ScheduleDatabase
    private let limits: ScheduleLimits
    private let clock: @Sendable () -> Int64
    /// The first events (at most ``maxOverdueAtOpen``) already due when the schedule was
    /// opened: after a crash, some of them may have been appended and not yet removed. The
    /// broker looks their ids up in the log, however long ago they were due.
    public let overdueAtOpen: [(topic: String, id: String, dueMicros: Int64)]
    /// Twice the most handed over and not reported at a time: more than a crash can leave behind.
    public static let maxOverdueAtOpen = 2 * maxOutstanding

    /// Starts the thread over `database`.
    public init(database: ScheduleDatabase, limits: ScheduleLimits = ScheduleLimits(), clock: @escaping @Sendable () -> Int64)
        throws(StorageError)
    {
        self.database = database
        self.limits = limits
        self.clock = clock
        let summary = try database.summary()
        shared = Mutex(summary)
        overdueAtOpen = try database.overdue(through: clock(), limit: Self.maxOverdueAtOpen)
        thread.start { [self] in run(summary) }
    }

    /// How many events wait, per topic, and when the next is due.
    public var summary: ScheduleSummary { shared.withLock { $0 } }

    /// Stores `events` durably; answers ``Answer/scheduled(ticket:_:)``.
    public func schedule(_ events: [ScheduledEvent], ticket: UInt64) { thread.commands.push(.schedule(events, ticket: ticket)) }

    /// Removes a scheduled event before it is due; answers ``Answer/cancelled(ticket:_:)``.
    public func cancel(topic: String, id: String, ticket: UInt64) {
        thread.commands.push(.cancel(topic: topic, id: id, ticket: ticket))
    }

    /// These handed-over events are appended and durable: they leave the schedule.
    public func fired(_ sequences: [Int64]) { thread.commands.push(.fired(sequences)) }

    /// These handed-over events could not be appended: hand them over again after a pause.
    public func retry(_ sequences: [Int64]) { thread.commands.push(.retry(sequences)) }

    /// Looks at the clock again now (a test moved it).
    public func tick() { thread.commands.push(.tick) }

    /// Ends the thread; events handed over and not reported are handed over again next time.
    public func close() { thread.stop(sending: .stop) }

    /// The loop's own state.
    private struct State {
        var summary: ScheduleSummary
        /// Every event up to here was handed over.
        var handedOver = SchedulePosition.start
        /// Handed over, not yet reported.
        var outstanding: [Int64: SchedulePosition] = [:]
        /// Reported fired, not yet removed (the removal failed).
        var unremoved: [Int64] = []
        var pausedUntil: Int64 = .min
    }

    private func run(_ summary: ScheduleSummary) {
        var state = State(summary: summary)
        while true {
            // Commands take effect in the order they came: schedules that arrived together are
            // committed in one transaction, but never after a cancel that came behind them (nor
            // before one that came ahead), and what was reported fired is removed before a
            // cancel can see it.
            var pending = PendingSchedules()
            var stopping = false
            for command in thread.commands.drain() {
                switch command {
                case .schedule(let batch, let ticket):
                    pending.requests.append((ticket, batch.count))
                    pending.events += batch
                case .cancel(let topic, let id, let ticket):
                    store(&pending, &state)
                    removeFired(&state)
                    cancel(topic, id, ticket: ticket, &state)
                case .fired(let sequences):
                    for sequence in sequences { state.outstanding[sequence] = nil }
                    state.unremoved += sequences
                case .retry(let sequences): rewind(to: sequences, &state)
                case .tick: continue
                case .stop: stopping = true
                }
            }
            store(&pending, &state)
            // Before a stop too: what the broker reported fired must not be handed over again.
            removeFired(&state)
            if stopping { return }
            let now = clock()
            let more = handOverDue(now: now, &state)
            let next = try? database.nextDue(after: state.handedOver)
            state.summary.nextDueMicros = next ?? nil
            publish(state.summary)
            thread.commands.wait(timeout: more ? .zero : wait(until: next ?? nil, now: now, state))
        }
    }

    /// Schedules drained together, committed together.
    private struct PendingSchedules {
        var requests: [(ticket: UInt64, count: Int)] = []
        var events: [ScheduledEvent] = []
    }

    private func store(_ pending: inout PendingSchedules, _ state: inout State) {
        guard !pending.events.isEmpty else { return }
        store(pending.events, for: pending.requests, &state)
        pending = PendingSchedules()
    }

    /// Makes `summary` what ``summary`` reads: before answers that depend on it go out.
    private func publish(_ summary: ScheduleSummary) {
        shared.withLock { $0 = summary }
    }

    private func wait(until next: Int64?, now: Int64, _ state: State) -> Duration {
        if !state.unremoved.isEmpty { return .milliseconds(100) }
        var wake = next ?? .max
        if state.outstanding.count >= Self.maxOutstanding { wake = .max }
        if state.pausedUntil > now { wake = max(wake, state.pausedUntil) }
        guard wake != .max else { return Self.longestWait }
        return min(.microseconds(max(wake - now, 0)), Self.longestWait)
    }

    private func store(_ events: [ScheduledEvent], for requests: [(ticket: UInt64, count: Int)], _ state: inout State) {
        let outcomes: [ScheduleOutcome]
        do {
            let result = try database.schedule(events, limits: limits, holding: (state.summary.events, state.summary.bytes))
            outcomes = result.outcomes
            var late: [ScheduledEvent] = []
            let now = clock()
            for event in result.stored {
                state.summary.events += 1
                state.summary.bytes += event.body.count
                state.summary.byTopic[event.topic, default: 0] += 1
                guard event.position < state.handedOver else { continue }
                if event.dueMicros <= now {
                    // Due before what was handed over already (it was due when it came): at once.
                    late.append(event)
                } else {
                    // Not due, yet before what was handed over: the clock stepped back. The next
                    // reads start before it again; the dedup window drops what comes twice.
                    state.handedOver = min(state.handedOver, SchedulePosition(dueMicros: event.dueMicros, sequence: event.sequence - 1))
                }
            }
            publish(state.summary)
            if !late.isEmpty {
                for event in late { state.outstanding[event.sequence] = event.position }
                answers.push(.due(late))
            }
        } catch {
            outcomes = Array(repeating: .refused(error), count: events.count)
        }
        var start = 0
        var answered: [Answer] = []
        for request in requests {
            answered.append(.scheduled(ticket: request.ticket, Array(outcomes[start..<start + request.count])))
            start += request.count
        }
        answers.push(contentsOf: answered)
    }

    private func cancel(_ topic: String, _ id: String, ticket: UInt64, _ state: inout State) {
        let outcome: CancelOutcome
        do {
            let outstanding = state.outstanding
            let unremoved = Set(state.unremoved)
            let (result, removed) = try database.cancel(topic: topic, id: id, after: state.handedOver) {
                outstanding[$0] != nil || unremoved.contains($0)
            }
            outcome = result
            if let removed {
                forget(topic: topic, bytes: removed.body.count, &state)
                publish(state.summary)
            }
        } catch {
            outcome = .failed(error)
        }
        answers.push(.cancelled(ticket: ticket, outcome))
    }

    private func removeFired(_ state: inout State) {
        guard !state.unremoved.isEmpty else { return }
        guard let removed = try? database.remove(state.unremoved) else { return }
        state.unremoved.removeAll()
        for (topic, bytes) in removed { forget(topic: topic, bytes: bytes, &state) }
    }

    private func forget(topic: String, bytes: Int, _ state: inout State) {
        state.summary.events -= 1
        state.summary.bytes -= bytes
        let left = (state.summary.byTopic[topic] ?? 1) - 1
        state.summary.byTopic[topic] = left > 0 ? left : nil
    }

    /// The broker could not append these: they come again, from the earliest, after a pause.
    private func rewind(to sequences: [Int64], _ state: inout State) {
        var earliest: SchedulePosition?
        for sequence in sequences {
            guard let position = state.outstanding.removeValue(forKey: sequence) else { continue }
            earliest = min(earliest ?? position, position)
        }
        guard let earliest else { return }
        // Everything handed over after it comes again too: the dedup window drops the ones
        // that were appended. Those stay outstanding meanwhile, so no cancel removes one that
        // may be in the log already.
        state.handedOver = min(state.handedOver, SchedulePosition(dueMicros: earliest.dueMicros, sequence: earliest.sequence - 1))
        state.pausedUntil = clock() + Self.retryPauseMicros
    }

    /// Hands over the events due by `now`, one batch; true when more may be due already.
    private func handOverDue(now: Int64, _ state: inout State) -> Bool {
        guard now >= state.pausedUntil else { return false }
        let room = Self.maxOutstanding - state.outstanding.count
        guard room > 0 else { return false }
        let limit = min(Self.dueBatch, room)
        guard let due = try? database.due(after: state.handedOver, through: now, limit: limit), let last = due.last else {
            return false
        }
        state.handedOver = max(state.handedOver, last.position)
        for event in due { state.outstanding[event.sequence] = event.position }
        answers.push(.due(due))
        return due.count == limit
    }
}
