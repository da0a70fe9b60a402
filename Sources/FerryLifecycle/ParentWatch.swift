import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Ends once the process that started this one has exited, so that a process started by a
/// launcher, a tool or a test harness (`--exit-with-parent`) never outlives it, even when that
/// parent is killed and cannot stop it. Run it with `successTerminationBehavior:
/// .gracefullyShutdownGroup` and its end shuts the rest of the group down as a SIGTERM would.
///
/// Linux gives an orphan a new parent (init or a subreaper), which this notices within one
/// ``interval``. The parent is the one when the watch is made: make it early in `run()`, before
/// slow set-up, so that a launcher dying meanwhile is still noticed. It polls rather than using
/// `PR_SET_PDEATHSIG`, which fires when the *thread* that started the process exits, and
/// launchers start processes from pool threads.
public struct ParentWatch: Service {
    /// The parent when the watch was made.
    public let parent = getppid()
    /// How often the parent is checked.
    public var interval: Duration

    public init(interval: Duration = .milliseconds(200)) {
        self.interval = interval
    }

    public func run() async throws {
        // Cancelled when the group shuts down for another reason, so the sleep does not hold
        // up the shutdown.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if getppid() != parent { return }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
