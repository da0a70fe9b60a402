import CNATS

#if canImport(Glibc)
    import Glibc
#endif

/// A connection to a NATS cluster (the C client, libnats): it reconnects by itself to any of
/// `servers`, and its calls are safe from any thread. Every call blocks its thread until the
/// server answers or the timeout passes: call it from a dedicated thread, never from Swift's
/// cooperative pool.
public final class NATSConnection: @unchecked Sendable {
    // @unchecked: libnats connections and JetStream contexts are thread-safe (its documentation);
    // the pointers are set once in init and freed once in deinit.
    let connection: OpaquePointer
    let jetStreamContext: OpaquePointer
    /// How long a request waits for its answer.
    public let timeout: Duration

    /// Connects to the first of `servers` (`nats://host:port`) that answers.
    public init(servers: [String], name: String = "ferry", timeout: Duration = .seconds(5)) throws(NATSError) {
        self.timeout = timeout
        let milliseconds = Int64(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var options: OpaquePointer?
        try check(natsOptions_Create(&options), "creating NATS options")
        defer { natsOptions_Destroy(options) }
        var cServers = servers.map { strdup($0) }
        defer { for server in cServers { free(server) } }
        let status = cServers.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) {
                natsOptions_SetServers(options, $0, Int32(buffer.count))
            }
        }
        try check(status, "setting the NATS servers \(servers)")
        try check(natsOptions_SetName(options, name), "naming the connection")
        try check(natsOptions_SetTimeout(options, milliseconds), "setting the connect timeout")
        try check(natsOptions_SetMaxReconnect(options, -1), "setting reconnects")
        try check(natsOptions_SetReconnectWait(options, 100), "setting the reconnect wait")
        var connection: OpaquePointer?
        try check(natsConnection_Connect(&connection, options), "connecting to \(servers.joined(separator: ","))")
        self.connection = connection!
        var jsOptions = jsOptions()
        jsOptions_Init(&jsOptions)
        jsOptions.Wait = milliseconds
        var context: OpaquePointer?
        let contextStatus = natsConnection_JetStream(&context, connection, &jsOptions)
        if contextStatus != NATS_OK {
            natsConnection_Destroy(connection)
            throw NATSError.from(contextStatus, doing: "opening JetStream")
        }
        self.jetStreamContext = context!
    }

    deinit {
        jsCtx_Destroy(jetStreamContext)
        natsConnection_Close(connection)
        natsConnection_Destroy(connection)
    }

    /// The JetStream API over this connection.
    public var jetStream: JetStream { JetStream(connection: self) }
}
