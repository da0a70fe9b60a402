import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Ends ferryd gracefully once the process that started it has exited, so that a broker
/// started by a tool or a test harness (`--exit-with-parent`) never outlives it, even when that
/// process is killed and cannot stop it. Linux gives an orphan a new parent (init or a
/// subreaper), which this notices within one ``interval``.
struct ParentWatch: Service {
    /// The parent when ferryd started.
    let parent = getppid()
    var interval: Duration = .milliseconds(200)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if getppid() != parent { return }
            try? await Task.sleep(for: interval)
        }
    }
}
