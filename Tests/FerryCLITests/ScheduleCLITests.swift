import FerryTestSupport
import Foundation
import Testing

@Suite("ferry publish --at/--after and ferry cancel", .serialized, .timeLimit(.minutes(2)))
struct ScheduleCLITests {
    let fixture: CLIFixture

    init() async throws {
        fixture = try await CLIFixture()
    }

    @Test("a scheduled publish prints its due time; stats count it; cancel removes it and says so twice")
    func scheduleAndCancel() async throws {
        let scheduled = try await fixture.ferry(
            "publish", "reminders", #"{"orderID":"42"}"#, "--after", "1h", "--id", "reminder-42", "--json")
        #expect(scheduled.status == 0, "\(scheduled.stderr)")
        let receipt = try #require(try scheduled.json() as? [String: Any])
        #expect(receipt["id"] as? String == "reminder-42")
        let due = try #require(receipt["due"] as? String)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let dueDate = try #require(formatter.date(from: due))
        #expect(abs(dueDate.timeIntervalSinceNow - 3600) < 60)

        let at = try await fixture.ferry("publish", "reminders", "{}", "--at", "2099-01-01T00:00:00Z")
        #expect(at.status != 0, "more than 366 days ahead is refused")
        #expect(at.stderr.contains("366 days"), "\(at.stderr)")

        let stats = try await fixture.ferry("stats", "--json")
        let topics = try #require((try stats.json() as? [String: Any])?["topics"] as? [[String: Any]])
        #expect(topics.first { $0["name"] as? String == "reminders" }?.int("scheduled") == 1)

        let cancelled = try await fixture.ferry("cancel", "reminders", "reminder-42")
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        #expect(cancelled.stdout.contains("cancelled"))
        let again = try await fixture.ferry("cancel", "reminders", "reminder-42")
        #expect(again.status == 2)
        #expect(again.stdout.contains("not scheduled"))

        let bad = try await fixture.ferry("publish", "reminders", "{}", "--after", "soon")
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--after takes a duration"))
    }
}
