import CZeroMQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A ZeroMQ socket, confined to the thread that created it.
///
/// libzmq sockets are not thread-safe. `Socket` is deliberately not `Sendable`, so the
/// compiler refuses to hand it to another task or thread, and every call checks at run time
/// that it comes from the creating thread. Create a socket on the thread that will own it
/// (usually a dedicated thread looping over ``Poller``), and talk to that thread through a
/// ``WakeupQueue`` or an `inproc://` socket.
public final class Socket {
    public let type: SocketType
    let handle: UnsafeMutableRawPointer
    private let owner: pthread_t
    /// Kept alive while the socket is: terminating a context waits for its sockets to close.
    private let context: Context

    /// Creates a socket owned by the calling thread. Linger defaults to 0 so that closing
    /// never blocks; set ``linger`` to wait for queued messages instead.
    public init(context: Context, type: SocketType) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError.last("zmq_socket")
        }
        self.type = type
        self.handle = handle
        self.owner = pthread_self()
        self.context = context
        var zero: Int32 = 0
        zmq_setsockopt(handle, ZMQ_LINGER, &zero, MemoryLayout<Int32>.size)
    }

    deinit { zmq_close(handle) }

    @inline(__always)
    func checkOwner() {
        precondition(pthread_equal(owner, pthread_self()) != 0, "ZeroMQ socket used from a thread that does not own it")
    }

    /// Binds to `endpoint`, e.g. `tcp://127.0.0.1:0` (an ephemeral port) or `inproc://name`.
    public func bind(_ endpoint: String) throws(ZMQError) {
        checkOwner()
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError.last("zmq_bind(\(endpoint))") }
    }

    /// Connects to `endpoint`; the connection is made (and remade) in the background.
    public func connect(_ endpoint: String) throws(ZMQError) {
        checkOwner()
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError.last("zmq_connect(\(endpoint))") }
    }

    /// Sends one frame. Returns `false` instead of blocking when `dontWait` is set and the
    /// message cannot be queued now (high-water mark reached).
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        checkOwner()
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        while true {
            if zmq_send(handle, bytes.baseAddress, bytes.count, flags) >= 0 { return true }
            let error = zmq_errno()
            if error == EINTR { continue }
            if error == EAGAIN && dontWait { return false }
            throw ZMQError(code: error, operation: "zmq_send")
        }
    }

    /// Sends one frame from an array; see ``send(_:more:dontWait:)-(UnsafeRawBufferPointer,_,_)``.
    @discardableResult
    public func send(_ bytes: [UInt8], more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(ZMQError) -> Bool in try send(buffer, more: more, dontWait: dontWait) }
        }.get()
    }

    /// Sends `frames` as one multipart message. With `dontWait`, returns `false` if the first
    /// frame cannot be queued; once it is, the rest always follows (libzmq sends all or nothing).
    @discardableResult
    public func send(multipart frames: [[UInt8]], dontWait: Bool = false) throws(ZMQError) -> Bool {
        for (index, frame) in frames.enumerated() {
            let sent = try send(frame, more: index < frames.count - 1, dontWait: dontWait && index == 0)
            if !sent { return false }
        }
        return true
    }

    /// Receives one multipart message. Returns `nil` when `dontWait` is set and nothing is queued.
    public func receiveMultipart(dontWait: Bool = false) throws(ZMQError) -> [Message]? {
        checkOwner()
        var frames: [Message] = []
        let flags = dontWait ? ZMQ_DONTWAIT : 0
        repeat {
            let message = Message()
            while zmq_msg_recv(message.pointer, handle, frames.isEmpty ? flags : 0) < 0 {
                let error = zmq_errno()
                if error == EINTR { continue }
                if error == EAGAIN && dontWait && frames.isEmpty { return nil }
                throw ZMQError(code: error, operation: "zmq_msg_recv")
            }
            frames.append(message)
        } while zmq_msg_more(frames[frames.count - 1].pointer) != 0
        return frames
    }

    /// The endpoint this socket last bound to, with the actual port for `tcp://…:0`.
    public var lastEndpoint: String {
        get throws(ZMQError) { try stringOption(ZMQ_LAST_ENDPOINT, "ZMQ_LAST_ENDPOINT") }
    }
}
