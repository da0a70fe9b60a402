import CZeroMQ

/// A ZeroMQ context: the I/O threads and the registry of `inproc://` endpoints.
///
/// A context is thread-safe and may be shared freely. Sockets are not: see ``Socket``.
public final class Context: Sendable {
    nonisolated(unsafe) let handle: UnsafeMutableRawPointer

    /// Creates a context with `ioThreads` background I/O threads.
    public init(ioThreads: Int32 = 1) throws(ZMQError) {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        if ioThreads != 1 { zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) }
        self.handle = handle
    }

    /// Makes every blocking call on this context's sockets return `ETERM`.
    public func shutdown() { zmq_ctx_shutdown(handle) }

    deinit { zmq_ctx_term(handle) }

    /// The libzmq version this process runs against, e.g. `(4, 3, 4)`.
    public static var libraryVersion: (major: Int32, minor: Int32, patch: Int32) {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (major, minor, patch)
    }

    /// Whether libzmq was built with CURVE security.
    public static var hasCurve: Bool { zmq_has("curve") != 0 }
}
