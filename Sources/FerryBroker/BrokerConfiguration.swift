public import FerryProtocol
public import FerryStorage

/// Where ferryd keeps events.
public enum StorageConfiguration: Sendable {
    /// The durable segmented log (the default).
    case log(DurableStoreConfiguration)
    /// In memory with a byte budget: for tests and benchmarks; nothing survives a restart.
    case memory(maxBytes: Int)
}

/// Everything ferryd can be told, with defaults that suit a single machine.
public struct BrokerConfiguration: Sendable {
    /// The ZeroMQ endpoint the ROUTER socket binds, e.g. `tcp://127.0.0.1:7400`; port 0 picks one.
    public var endpoint = "tcp://127.0.0.1:7400"
    public var limits = ProtocolLimits()
    /// Both sides send a heartbeat after this much silence.
    public var heartbeatIntervalMilliseconds: UInt32 = 1000
    /// A peer silent for this long is dead: its in-flight deliveries go to other members.
    public var peerTimeoutMilliseconds: UInt32 = 5000
    /// Credit for a subscriber that asks for none, and the most one may ask for.
    public var defaultMaxInFlight = 256
    public var maxMaxInFlight = 10_000
    /// The retry policy of groups that neither the configuration nor their first subscriber set.
    public var defaultRetryPolicy = RetryPolicy()
    /// Retry policies by group name; these win over what subscribers ask for.
    public var groupRetryPolicies: [String: RetryPolicy] = [:]
    /// How long a published event id is remembered for deduplication, and how many at most.
    public var dedupWindowMilliseconds: UInt32 = 120_000
    public var dedupMaxEntries = 1_000_000
    /// Where events and group state live.
    public var storage = StorageConfiguration.log(DurableStoreConfiguration(directory: "ferry-data"))
    /// How long shutdown waits for in-flight deliveries to settle.
    public var shutdownGraceMilliseconds: UInt32 = 5000
    /// How often changed group state (cursors, retries) is saved.
    public var groupStateSaveIntervalMilliseconds: UInt32 = 10
    /// Most topics the broker creates, and most consumer groups (durable and ephemeral) it
    /// holds: past them, a publish to a new topic or a subscribe to a new group is refused with
    /// `RESOURCE_EXHAUSTED`.
    public var maxTopics = 10_000
    public var maxGroups = 1_000
    /// Most deliveries in one Deliver message.
    public var deliveryBatch = 256
    /// Who may connect and what each principal may do; nil serves every connection with every
    /// command (loopback without CURVE). Replaced at run time by `BrokerInput.credentialsChanged`.
    public var credentials: Credentials?
    /// The broker's CURVE secret key (Z85): connections are encrypted and authenticated, and
    /// ``credentials`` says who may connect. Nil serves plain connections.
    public var curveSecretKey: String?
    /// Which events are recorded in the trace log, when the storage has one; nil records none.
    public var traceSampling: TraceSampling? = .all
    /// Where ferryd keeps the trace log (`trace/` in the data directory), and how much; nil for
    /// none (in-memory storage). The broker itself writes to ``BrokerStorage/trace``.
    public var traceLog: TraceLogConfiguration?
    /// The most events (and bytes of them) kept for later: past them, scheduling is refused
    /// with `STORAGE_FULL`.
    public var scheduleLimits = ScheduleLimits()
    /// The broker's own version, reported in Welcome.
    public var serverVersion = "0.1.0"

    public init() {}
}
