import CZeroMQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One received frame, owned by libzmq until released: reading it does not copy.
///
/// Use ``withUnsafeBytes(_:)`` to decode in place; ``bytes`` copies.
public final class Message {
    let pointer: UnsafeMutablePointer<zmq_msg_t>

    init() {
        pointer = .allocate(capacity: 1)
        zmq_msg_init(pointer)
    }

    deinit {
        zmq_msg_close(pointer)
        pointer.deallocate()
    }

    /// The frame's size in bytes.
    public var count: Int { zmq_msg_size(pointer) }

    /// Calls `body` with the frame's bytes, valid only for the duration of the call.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(pointer), count: zmq_msg_size(pointer)))
    }

    /// A copy of the frame's bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

extension Message {
    /// Calls `body` with the bytes of the connection property `name` of this frame (for
    /// example `User-Id`, the identity the ZAP handler returned for the connection), or with
    /// nil when the connection has no such property. The bytes are valid only during the call.
    public func withProperty<R>(_ name: String, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard let value = zmq_msg_gets(pointer, name) else { return body(nil) }
        return body(UnsafeRawBufferPointer(start: value, count: strlen(value)))
    }
}
