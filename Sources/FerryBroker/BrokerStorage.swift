public import FerryStorage

/// The two stores a broker works on: the event log and the consumer groups' state.
///
/// ferryd's composition root opens them (durable or in memory) on the broker's thread; tests
/// pass their own.
public struct BrokerStorage {
    public let log: any EventLog
    public let groupState: any GroupStateStore

    public init(log: any EventLog, groupState: any GroupStateStore) {
        self.log = log
        self.groupState = groupState
    }

    /// Both stores in memory: a log with a budget of `maxBytes`, and group state.
    public static func inMemory(maxBytes: Int = 1 << 30) -> BrokerStorage {
        BrokerStorage(log: InMemoryEventLog(maxBytes: maxBytes), groupState: InMemoryGroupStateStore())
    }

    /// Closes both: the log first (its last syncs), then the group state (its queued saves).
    public func close() {
        log.close()
        groupState.close()
    }
}
