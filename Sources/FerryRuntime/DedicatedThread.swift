import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Starts Ferry's long-lived threads (a socket loop, the fsync thread, …) under a name the
/// operating system shows, so `top -H`, `ps -L` and `perf` tell them apart.
///
/// Foundation's `Thread.name` does not reach the kernel on Linux: every thread would show the
/// name of the dispatch worker that started it.
public enum DedicatedThread {
    /// Starts a thread named `name` (the kernel keeps the first 15 bytes) that runs `body`.
    public static func start(name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            setCurrentName(name)
            body()
        }
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }

    /// Names the calling thread for the kernel (through `/proc/thread-self/comm`: glibc's
    /// `pthread_setname_np` is not visible to Swift).
    public static func setCurrentName(_ name: String) {
        #if os(Linux)
            let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return }
            let bytes = Array(name.utf8.prefix(15))
            _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            close(descriptor)
        #endif
    }
}
