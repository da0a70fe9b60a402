#if canImport(Glibc)
    public import Glibc
#endif

/// The process that started this one, as it was when this value was made, and whether it has
/// exited since: so that a process started by a launcher, a tool or a test harness never
/// outlives it, even when that parent is killed and cannot stop it.
///
/// Linux gives an orphan a new parent (init or a subreaper), so the parent is gone once
/// `getppid()` changes. Make the value early, before slow set-up, so that a launcher dying
/// meanwhile is still noticed. It polls rather than using `PR_SET_PDEATHSIG`, which fires when
/// the *thread* that started the process exits, and launchers start processes from pool threads.
public struct ParentProcess: Sendable {
    /// The parent's process id when this value was made.
    public let id = getppid()

    public init() {}

    /// Whether that parent has exited (this process has another parent now).
    public var hasExited: Bool { getppid() != id }

    /// Returns once the parent has exited, checking every `interval`, or once the task is
    /// cancelled.
    public func waitUntilExited(checkingEvery interval: Duration) async {
        while !Task.isCancelled && !hasExited {
            try? await Task.sleep(for: interval)
        }
    }
}
