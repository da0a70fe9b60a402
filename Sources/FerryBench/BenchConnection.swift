import FerryProtocol
import FerryRuntime
import ZeroMQ

/// One DEALER connection to the broker, owned by the thread that opened it: sends frames,
/// reads replies without blocking, and does the request/reply round trips of set-up.
final class BenchConnection {
    let socket: Socket
    var poller = Poller()
    /// When this connection last sent anything (for client heartbeats).
    private(set) var lastSent = MonotonicInstant(nanoseconds: 0)

    /// One ZeroMQ context, so one I/O thread, for every connection of the generator: fewer
    /// threads to wake per event, as the peers' single-threaded C clients have.
    private static let context = Result { () throws(ZMQError) in try Context() }

    init(endpoint: String, curve: BenchCurve? = nil, receiveHighWaterMark: Int32? = nil) throws {
        socket = try Socket(context: try Self.context.get(), type: .dealer)
        if let receiveHighWaterMark { try socket.setReceiveHighWaterMark(receiveHighWaterMark) }
        try curve?.apply(to: socket)
        try socket.connect(endpoint)
        _ = poller.addReadable(socket)
    }

    /// Waits up to `timeoutMilliseconds` for something to read.
    func poll(timeoutMilliseconds: Int) throws {
        _ = try poller.poll(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Sends frame 2 (a serialized `ClientMessage`) after the signature.
    func send(body: [UInt8]) throws {
        try socket.send(WireFormat.signature, more: true)
        try socket.send(body)
        lastSent = MonotonicInstant.now()
    }

    func send(_ command: ClientMessage.OneOf_Command, requestID: UInt64) throws {
        var message = ClientMessage()
        message.requestID = requestID
        message.command = command
        try send(body: WireFormat.encode(message))
    }

    /// Ends the session politely, so the broker drops it at once instead of waiting for its
    /// peer timeout (and a member's unsettled deliveries go to the others now). Best effort.
    func sayGoodbye() {
        try? send(.goodbye(Goodbye()), requestID: 0)
    }

    /// Sends a heartbeat when nothing went out for a second, so the broker keeps the session.
    func heartbeatIfIdle(now: MonotonicInstant) throws {
        if now - lastSent > .seconds(1) { try send(.heartbeat(Heartbeat()), requestID: 0) }
    }

    /// Hands frame 2 of the next queued message to `body`; false when nothing is queued.
    func receive(_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        guard let frames = try socket.receiveMultipart(dontWait: true) else { return false }
        if frames.count == 2 { try frames[1].withUnsafeBytes { try body($0) } }
        return true
    }

    /// Sends `command` and waits up to `timeoutMilliseconds` for the reply with `requestID`,
    /// ignoring anything else; an error reply throws.
    func request(_ command: ClientMessage.OneOf_Command, requestID: UInt64, timeoutMilliseconds: Int, what: String) throws -> ServerMessage
    {
        try send(command, requestID: requestID)
        let deadline = MonotonicInstant.now() + Nanoseconds.milliseconds(timeoutMilliseconds)
        var reply: ServerMessage?
        while reply == nil {
            let now = MonotonicInstant.now()
            guard now < deadline else {
                throw BenchError(.brokerUnreachable, "no answer to \(what) within \(timeoutMilliseconds) ms; is ferryd running there?")
            }
            _ = try poller.poll(timeoutMilliseconds: Int(min((deadline - now).wholeMilliseconds + 1, 100)))
            while try receive({ body in
                let message = try WireFormat.decode(ServerMessage.self, from: body)
                if message.requestID == requestID { reply = message }
            }) {}
        }
        if case .error(let error) = reply?.reply { throw BenchError.broker(error) }
        return reply!
    }
}
