import Foundation

/// Runs `body` on threads of its own, in the calling task (so test expectations inside it are
/// still the calling test's): for test code that blocks (raw sockets, waits on a condition with a
/// deadline). Run inline in an async test, such code holds one of the few threads of Swift's
/// cooperative pool (two on a 2-vCPU machine) for seconds, and other suites' tasks, running in
/// parallel, wait for it.
public func onOwnThread<Result: Sendable>(_ body: @Sendable () async throws -> Result) async throws -> Result {
    try await withTaskExecutorPreference(ThreadPerJobExecutor()) { try await body() }
}

/// Runs each job it is given on a new thread.
private final class ThreadPerJobExecutor: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        Thread { job.runSynchronously(on: executor) }.start()
    }
}
