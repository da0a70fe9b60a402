/// How a client (``EventBus`` or ``Worker``) reaches ferryd.
public struct ClientConfiguration: Sendable {
    /// ferryd's ZeroMQ endpoint.
    public var endpoint: String
    /// Shown in the broker's logs.
    public var clientName: String
    /// How long a request (publish confirm, subscribe, DLQ command) may wait for its reply.
    public var requestTimeout: Duration = .seconds(10)
    /// Most published events awaiting confirmation; further publishes wait in the client.
    public var maxUnconfirmedPublishes = 10_000
    /// Most events in one Publish command.
    public var maxPublishBatch = 1000
    /// What a broker restart (or a session the broker ended after this process was silent past
    /// its peer timeout) does. On (the default): the client greets the new run, subscribes
    /// again and resends what was not confirmed, and handlers go on. Off: the connection ends
    /// with ``FerryError/Code/brokerRestarted`` (or ``FerryError/Code/sessionEnded``); pending
    /// and later calls fail with it and a ``Worker``'s `run()` throws it, for a supervisor that
    /// would rather restart the process.
    public var autoResume = true
    /// CURVE keys, for a ferryd that serves CURVE (nil: a plain connection, as to a loopback
    /// ferryd without keys).
    public var security: ClientSecurity?
    /// How events published under an older schema version of their type become the version a
    /// handler or ``ReceivedEvent/decode(_:)`` reads (none by default: an older version then
    /// fails to decode, naming the missing step).
    public var upcasters = Upcasters()

    public init(endpoint: String = "tcp://127.0.0.1:7400", clientName: String = "ferry-client") {
        self.endpoint = endpoint
        self.clientName = clientName
    }
}
