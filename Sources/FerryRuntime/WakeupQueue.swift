import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A thread-safe queue whose consumer is a poll loop.
///
/// Any thread or task may ``push(_:)``; the thread that owns the sockets registers
/// ``fileDescriptor`` with its ``Poller`` and calls ``drain()`` when it is readable. Pushes that
/// arrive while the loop is busy coalesce into one wake-up, so the loop takes them as a batch.
public final class WakeupQueue<Element: Sendable>: Sendable {
    private let state = Mutex<[Element]>([])
    /// The read end of a pipe that is readable while elements are queued.
    public let fileDescriptor: Int32
    private let writeDescriptor: Int32

    public init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe failed: errno \(errno)")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        fileDescriptor = fds[0]
        writeDescriptor = fds[1]
    }

    deinit {
        close(fileDescriptor)
        close(writeDescriptor)
    }

    /// Queues `element` and wakes the consumer if it was idle.
    public func push(_ element: Element) {
        let wasEmpty = state.withLock { queue in
            queue.append(element)
            return queue.count == 1
        }
        if wasEmpty { signal() }
    }

    /// Queues several elements with at most one wake-up.
    public func push(contentsOf elements: [Element]) {
        guard !elements.isEmpty else { return }
        let wasEmpty = state.withLock { queue in
            let empty = queue.isEmpty
            queue.append(contentsOf: elements)
            return empty
        }
        if wasEmpty { signal() }
    }

    /// Blocks the calling thread until something is queued or `timeout` passed (`nil`: no
    /// timeout), for a loop that watches nothing but this queue; a loop with sockets too
    /// registers ``fileDescriptor`` with its poller instead.
    public func wait(timeout: Duration? = nil) {
        _ = readableDescriptors([fileDescriptor], timeout: timeout)
    }

    /// Takes everything queued so far, in order.
    public func drain() -> [Element] {
        // A push writes one byte only when the queue was empty, so one read almost always empties
        // the pipe; a short read means it is empty, and no second read is spent to hear EAGAIN.
        var scratch = [UInt8](repeating: 0, count: 64)
        while read(fileDescriptor, &scratch, scratch.count) == scratch.count {}
        return state.withLock { queue in
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            return taken
        }
    }

    private func signal() {
        var one: UInt8 = 1
        _ = write(writeDescriptor, &one, 1)
    }
}
