/// Bounds on what an HTTP client can ask for, so that no request holds the broker or the
/// gateway for long or makes it buffer without limit. Published in docs/http-api.md.
public enum GatewayLimits {
    /// Largest request body: one event's payload (the broker's own limit applies too), or an
    /// NDJSON batch.
    public static let maxBodyBytes = 8 << 20
    /// Most lines of one NDJSON publish (the protocol's batch limit).
    public static let maxBatchEvents = 1000
    /// Most deliveries one fetch returns, and the most credit a member may hold.
    public static let maxFetch = 1000
    /// Longest long-poll of a fetch.
    public static let maxWait: Duration = .seconds(30)
    /// Most entries of one page (dead letters, history).
    public static let maxPage = 1000
    /// Most dead letters one filtered listing or bulk action examines before answering with
    /// where to continue.
    public static let maxScan = 10_000
    /// Most HTTP consumer-group members alive at once.
    public static let maxMembers = 1000
    /// A member that neither fetched nor settled for this long is removed like a silent peer.
    public static let defaultMemberTimeout: Duration = .seconds(30)
    /// Member names and other path segments: at most this many bytes.
    public static let maxNameBytes = 255
    /// Most ids named by one ack, requeue or purge.
    public static let maxIDs = 10_000
}
