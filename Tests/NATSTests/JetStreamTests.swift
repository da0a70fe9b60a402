import FerryTestSupport
import Foundation
import NATS
import Testing

/// The NATS binding against a real three-server JetStream cluster on loopback: what the
/// replicated storage builds on (quorum-acknowledged appends, deduplication, fencing by last
/// sequence, conditional key-value writes) and how a lost quorum shows.
@Suite("NATS binding: JetStream on a three-server cluster", .serialized, .timeLimit(.minutes(3)), .enabled(if: NATSCluster.executable != nil))
struct JetStreamTests {
    /// Connects and creates `stream` with three replicas once the cluster has elected its
    /// JetStream leader (retried until a deadline: election takes a few seconds).
    private func ready(_ cluster: NATSCluster, stream: String) async throws -> NATSConnection {
        let deadline = ContinuousClock.now + .seconds(60)
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            do {
                let connection = try NATSConnection(servers: cluster.urls, timeout: .seconds(2))
                try connection.jetStream.addStream(StreamConfiguration(name: stream, subjects: ["\(stream).>"], replicas: 3))
                return connection
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        throw lastError ?? NATSError(code: .timeout, message: "the cluster never became ready")
    }

    @Test("appends are acknowledged with sequences, deduplicated by message id, read back, and fenced by the last sequence")
    func appendReadFence() async throws {
        #expect(NATSCluster.syncsEveryWrite, "the test cluster's nats-server cannot fsync every write (scripts/setup.sh installs one that can)")
        let cluster = try NATSCluster()
        let connection = try await ready(cluster, stream: "ORDERS")
        let js = connection.jetStream
        let first = try js.publish(subject: "ORDERS.created", data: Array("one".utf8), messageID: "e1")
        let second = try js.publish(subject: "ORDERS.created", data: Array("two".utf8), messageID: "e2")
        #expect((first.sequence, second.sequence) == (1, 2))
        let again = try js.publish(subject: "ORDERS.created", data: Array("one again".utf8), messageID: "e1")
        #expect(again.duplicate && again.sequence == 1, "a republished id is the original")
        #expect(try js.message(stream: "ORDERS", sequence: 2) == StoredMessage(subject: "ORDERS.created", data: Array("two".utf8)))
        #expect(try js.message(stream: "ORDERS", sequence: 9) == nil)
        #expect(try js.lastSequence(stream: "ORDERS") == 2)

        // Fencing: a writer that expects the stream to end at 2 appends; one that still thinks
        // it ends at 1 (it lost its lease meanwhile) is refused and stores nothing.
        #expect(try js.publish(subject: "ORDERS.created", data: [3], expectedLastSequence: 2).sequence == 3)
        let fenced = #expect(throws: NATSError.self) {
            try js.publish(subject: "ORDERS.created", data: [4], expectedLastSequence: 2)
        }
        #expect(fenced?.isWrongLastSequence == true, "\(String(describing: fenced))")
        #expect(try js.lastSequence(stream: "ORDERS") == 3)
    }

    @Test("a key-value lease: created once, updated only at the revision read, so a stale holder is refused")
    func conditionalKeyValue() async throws {
        let cluster = try NATSCluster()
        let connection = try await ready(cluster, stream: "LEASES")
        let bucket = try connection.jetStream.keyValue(bucket: "ferry-lease", replicas: 3)
        #expect(try bucket.get("leader") == nil)
        let created = try bucket.create("leader", value: Array("ferryd-a".utf8))
        #expect(throws: NATSError.self, "a second creator loses") { try bucket.create("leader", value: Array("ferryd-b".utf8)) }
        let renewed = try bucket.update("leader", value: Array("ferryd-a".utf8), expectedRevision: created)
        #expect(renewed > created)
        // ferryd-b read the lease at `created`, then ferryd-a renewed it: b's takeover is refused.
        #expect(throws: NATSError.self) { try bucket.update("leader", value: Array("ferryd-b".utf8), expectedRevision: created) }
        #expect(try bucket.get("leader") == KeyValueBucket.Entry(value: Array("ferryd-a".utf8), revision: renewed))
    }

    @Test("one server killed: appends go on; two killed: they fail with a clear error, and resume when one returns")
    func quorum() async throws {
        let cluster = try NATSCluster()
        let connection = try await ready(cluster, stream: "EVENTS")
        let js = connection.jetStream
        _ = try js.publish(subject: "EVENTS.a", data: [1], messageID: "q1")
        await cluster.kill(2)
        #expect(await Wait.until(timeout: .seconds(30)) { (try? js.publish(subject: "EVENTS.a", data: [2], messageID: "q2")) != nil })
        await cluster.kill(1)
        let refused = #expect(throws: NATSError.self, "no quorum: nothing is acknowledged") {
            try js.publish(subject: "EVENTS.a", data: [3], messageID: "q3")
        }
        #expect(refused.map { [.timeout, .unavailable, .jetStream, .notConnected].contains($0.code) } == true, "\(String(describing: refused))")
        try cluster.start(1)
        #expect(await Wait.until(timeout: .seconds(60)) { (try? js.publish(subject: "EVENTS.a", data: [3], messageID: "q3")) != nil })
        // Nothing acknowledged was lost: q1 and q2 are there, q3 once.
        let stored = try (1...3).compactMap { try js.message(stream: "EVENTS", sequence: UInt64($0))?.data }
        #expect(stored == [[1], [2], [3]])
    }
}
