import FerryTestSupport
import Foundation
import OrderEvents
import Testing

@Suite("analytics-worker against a real ferryd", .serialized, .timeLimit(.minutes(1)))
struct AnalyticsWorkerTests {
    struct Report: Decodable, Equatable {
        struct ActionCount: Decodable, Equatable {
            var bucketHour: String
            var action: String
            var count: Int
        }
        struct UserCount: Decodable, Equatable {
            var userId: String
            var action: String
            var count: Int
        }
        struct Batch: Decodable, Equatable {
            var id: Int
            var size: Int
            var counted: Int
        }
        var actionCounts: [ActionCount]
        var userCounts: [UserCount]
        var batches: [Batch]
        var eventsCounted: Int
    }

    /// 12:xx UTC on 27 Nov 2026, plus `minutes`.
    func at(_ minutes: Int) -> Google_Protobuf_Timestamp {
        Google_Protobuf_Timestamp(date: Date(timeIntervalSince1970: 1_795_780_800 + Double(minutes * 60)))
    }

    @Test("actions are counted exactly per hour and per user in batches cut by size and by time; a replay counts nothing twice")
    func aggregates() async throws {
        let harness = try await WorkerHarness()
        let worker = try await harness.start("analytics-worker", group: "analytics", ["--batch-size", "10", "--batch-wait-ms", "300"])
        let bus = harness.bus
        // 15 views at 12:xx, 10 carts at 13:xx, from users u0…u4.
        let actions = (0..<25).map { index in
            UserAction.with {
                $0.userID = "u\(index % 5)"
                $0.action = index < 15 ? "view" : "add_to_cart"
                $0.occurredAt = at(index < 15 ? index : 60 + index)
            }
        }
        try await bus.publish(batch: actions)
        // The same event id twice: the broker stores it once.
        let checkout = UserAction.with {
            $0.userID = "u0"
            $0.action = "checkout"
            $0.occurredAt = at(70)
        }
        try await bus.publish(checkout, id: "checkout-1")
        try await bus.publish(checkout, id: "checkout-1")

        #expect(await harness.waitUntilAcked("analytics", 26))
        let report = try await harness.runJSON("analytics-worker", ["report"], as: Report.self)
        #expect(report.eventsCounted == 26)
        #expect(
            report.actionCounts == [
                .init(bucketHour: "2026-11-27T12:00Z", action: "view", count: 15),
                .init(bucketHour: "2026-11-27T13:00Z", action: "add_to_cart", count: 10),
                .init(bucketHour: "2026-11-27T13:00Z", action: "checkout", count: 1),
            ])
        #expect(report.userCounts.filter { $0.action == "view" }.map(\.count) == [3, 3, 3, 3, 3])
        #expect(report.userCounts.filter { $0.action == "add_to_cart" }.map(\.count) == [2, 2, 2, 2, 2])
        #expect(report.userCounts.contains(.init(userId: "u0", action: "checkout", count: 1)))
        #expect(report.batches.map(\.size).reduce(0, +) == 26)
        #expect(report.batches.allSatisfy { $0.size <= 10 && $0.counted == $0.size })
        #expect(report.batches.contains { $0.size == 10 }, "a batch cut by size")
        #expect(report.batches.contains { $0.size < 10 }, "a batch cut by time")

        // Every event again: new batches, nothing counted twice.
        try await bus.replay(group: "analytics", from: .beginning)
        #expect(await harness.waitUntilAcked("analytics", 52))
        let replayed = try await harness.runJSON("analytics-worker", ["report"], as: Report.self)
        #expect(replayed.actionCounts == report.actionCounts && replayed.userCounts == report.userCounts)
        #expect(replayed.eventsCounted == 26)
        #expect(replayed.batches.count > report.batches.count)
        #expect(replayed.batches.dropFirst(report.batches.count).allSatisfy { $0.counted == 0 })
        withExtendedLifetime(worker) {}
        await harness.close()
    }
}
