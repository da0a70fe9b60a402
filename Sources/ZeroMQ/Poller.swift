import CZeroMQ

/// Waits on several sockets and file descriptors at once (`zmq_poll`).
///
/// Like the sockets it polls, a poller belongs to one thread.
public struct Poller {
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Registers `socket` for readability; returns the index to query after ``poll(timeoutMilliseconds:)``.
    @discardableResult
    public mutating func addReadable(_ socket: Socket) -> Int {
        socket.checkOwner()
        items.append(zmq_pollitem_t(socket: socket.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0))
        return items.count - 1
    }

    /// Registers a plain file descriptor (e.g. a ``WakeupQueue``'s) for readability.
    @discardableResult
    public mutating func addReadable(fileDescriptor: Int32) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: Int16(ZMQ_POLLIN), revents: 0))
        return items.count - 1
    }

    /// Blocks until something is readable or `timeoutMilliseconds` pass (-1 waits forever).
    /// Returns how many items are ready; an interrupted wait returns 0.
    @discardableResult
    public mutating func poll(timeoutMilliseconds: Int) throws(ZMQError) -> Int {
        let count = items.count
        let ready = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32(count), timeoutMilliseconds) }
        if ready < 0 {
            let error = zmq_errno()
            if error == EINTR { return 0 }
            throw ZMQError(code: error, operation: "zmq_poll")
        }
        return Int(ready)
    }

    /// Whether the item at `index` was readable in the last poll.
    public func isReadable(_ index: Int) -> Bool { items[index].revents & Int16(ZMQ_POLLIN) != 0 }
}
