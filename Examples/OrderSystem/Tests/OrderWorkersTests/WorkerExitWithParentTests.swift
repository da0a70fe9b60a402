import FerryTestSupport
import Foundation
import Testing

/// `--exit-with-parent` on worker processes: a worker started by a launcher (the demo, a
/// supervisor, a test) does not outlive it, even when the launcher is killed and cannot stop it.
@Suite("worker processes with --exit-with-parent", .timeLimit(.minutes(1)))
struct WorkerExitWithParentTests {
    @Test("a worker whose launcher is killed drains, leaves its group and exits")
    func exitsWithItsParent() async throws {
        let harness = try await WorkerHarness()
        let worker = try await OrphanableProcess(product: "audit-worker", arguments: harness.runArguments, directory: harness.dataDir)
        try #require(await harness.members(of: "audit", become: { $0 > 0 }), "audit-worker did not join its group")

        worker.orphan()
        #expect(await Wait.until(timeout: .seconds(10)) { !worker.isRunning }, "the worker kept running after its launcher was killed")
        #expect(await harness.members(of: "audit", become: { $0 == 0 }), "the broker still counts the worker as a member")
        await harness.close()
    }
}
