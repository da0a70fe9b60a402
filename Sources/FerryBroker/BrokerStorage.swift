public import FerryStorage

/// The stores a broker works on: the event log, the consumer groups' state, and the trace log
/// when events' lives are recorded.
///
/// ferryd's composition root opens them (durable or in memory) on the broker's thread; tests
/// pass their own.
public struct BrokerStorage {
    public let log: any EventLog
    public let groupState: any GroupStateStore
    /// Where the broker records what it does with each event; nil records nothing.
    public let trace: TraceLog?
    /// Keeps events published for later until they are due; nil refuses them.
    public let scheduler: Scheduler?

    public init(log: any EventLog, groupState: any GroupStateStore, trace: TraceLog? = nil, scheduler: Scheduler? = nil) {
        self.log = log
        self.groupState = groupState
        self.trace = trace
        self.scheduler = scheduler
    }

    /// Both stores in memory: a log with a budget of `maxBytes`, and group state.
    public static func inMemory(maxBytes: Int = 1 << 30, scheduler: Scheduler? = nil) -> BrokerStorage {
        BrokerStorage(log: InMemoryEventLog(maxBytes: maxBytes), groupState: InMemoryGroupStateStore(), scheduler: scheduler)
    }

    /// Closes them: the scheduler first (nothing more comes due), then the log (its last
    /// syncs), then the group state (its queued saves), then the trace.
    public func close() {
        scheduler?.close()
        log.close()
        groupState.close()
        trace?.close()
    }
}
