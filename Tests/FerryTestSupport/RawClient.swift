public import FerryProtocol
public import ZeroMQ

/// A bare DEALER speaking the wire protocol frame by frame, for tests that send bad input.
/// Thread-confined like its socket: use it from synchronous test code.
public final class RawClient {
    private let socket: Socket
    private var nextRequestID: UInt64 = 0

    /// A client of `endpoint`; with `curve`, a CURVE client of the server whose public key is
    /// `serverPublicKey`, authenticating with the key pair `client`.
    /// With CURVE the routing id is 16 random bytes unless `routingID` says otherwise.
    public init(endpoint: String, curve: (serverPublicKey: String, client: CurveKeyPair)? = nil, routingID: [UInt8]? = nil) throws {
        socket = try Socket(context: try Context(), type: .dealer)
        if let routingID {
            try socket.setRoutingID(routingID)
        } else if curve != nil {
            try socket.setRandomRoutingID(name: "raw")
        }
        if let curve {
            try socket.setCurveClient(
                serverKey: Z85.decodeKey(curve.serverPublicKey) ?? [], publicKey: Z85.decodeKey(curve.client.publicKey) ?? [],
                secretKey: Z85.decodeKey(curve.client.secretKey) ?? [])
        }
        try socket.connect(endpoint)
    }

    /// Sends arbitrary frames.
    public func sendFrames(_ frames: [[UInt8]]) throws {
        try socket.send(multipart: frames)
    }

    /// Sends a well-formed message and returns its request id.
    @discardableResult
    public func send(_ command: ClientMessage.OneOf_Command?, requestID: UInt64? = nil) throws -> UInt64 {
        nextRequestID += 1
        var message = ClientMessage()
        message.requestID = requestID ?? nextRequestID
        message.command = command
        try sendFrames([WireFormat.signature, WireFormat.encode(message)])
        return message.requestID
    }

    /// The next message other than a heartbeat, waiting up to `timeout`.
    public func receive(timeout: Duration = .seconds(10)) throws -> ServerMessage? {
        try receive(timeout: timeout) { if case .heartbeat = $0.reply { false } else { true } }
    }

    /// The next heartbeat, skipping other messages, waiting up to `timeout`.
    public func receiveHeartbeat(timeout: Duration = .seconds(10)) throws -> Heartbeat? {
        let message = try receive(timeout: timeout) { if case .heartbeat = $0.reply { true } else { false } }
        guard case .heartbeat(let heartbeat)? = message?.reply else { return nil }
        return heartbeat
    }

    /// The next message that `wanted` accepts, dropping the others, waiting up to `timeout`.
    private func receive(timeout: Duration, _ wanted: (ServerMessage) -> Bool) throws -> ServerMessage? {
        var received: ServerMessage?
        _ = try Wait.untilSync(timeout: timeout) {
            guard let frames = try socket.receiveMultipart(dontWait: true), frames.count == 2 else { return false }
            let message = try frames[1].withUnsafeBytes { (body) throws(ProtocolError) in
                try WireFormat.decode(ServerMessage.self, from: body)
            }
            guard wanted(message) else { return false }
            received = message
            return true
        }
        return received
    }
}
