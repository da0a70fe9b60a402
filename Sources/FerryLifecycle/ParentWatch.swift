public import FerryRuntime
public import ServiceLifecycle

/// A service that ends once the process that started this one has exited (see
/// ``ParentProcess``), for `--exit-with-parent`. Run it with `successTerminationBehavior:
/// .gracefullyShutdownGroup` and its end shuts the rest of the group down as a SIGTERM would.
///
/// The parent is the one when the watch is made: make it early in `run()`, before slow set-up.
/// A new parent (Linux gives an orphan init or a subreaper) is noticed within one ``interval``.
public struct ParentWatch: Service {
    /// The parent when the watch was made.
    public let parent = ParentProcess()
    /// How often the parent is checked.
    public var interval: Duration

    public init(interval: Duration = .milliseconds(200)) {
        self.interval = interval
    }

    public func run() async throws {
        // Cancelled when the group shuts down for another reason, so the sleep does not hold
        // up the shutdown.
        await cancelWhenGracefulShutdown {
            await parent.waitUntilExited(checkingEvery: interval)
        }
    }
}
