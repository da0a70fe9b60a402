import Ferry
import FerryTestSupport
import Foundation
import Synchronization
import Testing

@Suite("ferry groups, replay and stats", .serialized, .timeLimit(.minutes(2)))
struct GroupsReplayStatsTests {
    @Test("groups shows lag per topic and counters; replay moves the group by beginning, offset, time and end")
    func groupsAndReplay() async throws {
        let fixture = try await CLIFixture()
        let handled = Atomic<Int>(0)
        let worker = Worker(name: "billing-worker", configuration: .init(endpoint: fixture.ferryd.endpoint, clientName: "billing-worker"))
        worker.group("billing") { group in
            group.onRaw(topic: "orders.created") { _, _ in handled.add(1, ordering: .relaxed) }
        }
        let running = Task { try await worker.run() }
        await worker.waitUntilReady()
        let lines = (0..<3).map { #"{"payload":{"n":\#($0)}}"# }.joined(separator: "\n")
        #expect(try await fixture.ferry("publish", "orders.created", "--lines", stdin: lines).status == 0)
        #expect(await Wait.until(timeout: .seconds(10)) { handled.load(ordering: .relaxed) == 3 })
        #expect(await Wait.until(timeout: .seconds(10)) { (try? await fixture.group("billing"))?.int("acked") == 3 })
        worker.stop()
        try await running.value
        let beforeBacklog = Date()
        #expect(try await fixture.ferry("publish", "orders.created", "--lines", stdin: lines).status == 0)

        let billing = try #require(try await fixture.group("billing"))
        #expect(billing.int("members") == 0)
        #expect(billing.int("lag") == 3)
        #expect(billing.int("delivered") == 3)
        #expect(billing["ephemeral"] as? Bool == false)
        let topics = try #require(billing["topics"] as? [[String: Any]])
        #expect(topics.count == 1)
        #expect(topics.first?["topic"] as? String == "orders.created")
        #expect(topics.first?.int("position") == 3)
        #expect(topics.first?.int("end") == 6)
        #expect(topics.first?.int("lag") == 3)

        let table = try await fixture.ferry("groups")
        #expect(table.status == 0)
        #expect(table.stdout.contains("LAG"))
        #expect(table.lines.contains { $0.hasPrefix("billing") && $0.contains("orders.created") && $0.hasSuffix("3") })

        let beginning = try await fixture.ferry("replay", "billing", "--from", "beginning", "--json")
        #expect(beginning.status == 0, "\(beginning.stderr)")
        let cursors = try #require((try beginning.json() as? [String: Any])?["cursors"] as? [[String: Any]])
        #expect(cursors.first?.int("position") == 0)
        #expect(try await fixture.group("billing")?.int("lag") == 6)

        let offset = try await fixture.ferry("replay", "billing", "--from", "4", "--topic", "orders.created")
        #expect(offset.status == 0)
        #expect(offset.lines.last?.hasSuffix("4") == true)

        let time = try await fixture.ferry(
            "replay", "billing", "--from", Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(beforeBacklog))
        #expect(time.status == 0, "\(time.stderr)")
        #expect(try await fixture.group("billing")?.int("lag") == 3)

        let end = try await fixture.ferry("replay", "billing", "--from", "end")
        #expect(end.status == 0)
        #expect(try await fixture.group("billing")?.int("lag") == 0)

        let notFollowed = try await fixture.ferry("replay", "billing", "--from", "end", "--topic", "users.created")
        #expect(notFollowed.status == 1)
        let badPosition = try await fixture.ferry("replay", "billing", "--from", "yesterday")
        #expect(badPosition.status == 64)
    }

    @Test("stats shows topics, groups, bytes and connections; --prometheus prints the metrics")
    func stats() async throws {
        let fixture = try await CLIFixture()
        #expect(try await fixture.ferry("publish", "orders.created", #"{"n":1}"#).status == 0)
        #expect(try await fixture.ferry("publish", "users.created", #"{"n":2}"#).status == 0)
        let json = try #require(try await fixture.ferry("stats", "--json").json() as? [String: Any])
        let topics = try #require(json["topics"] as? [[String: Any]])
        #expect(topics.compactMap { $0["name"] as? String } == ["orders.created", "users.created"])
        #expect(topics.allSatisfy { $0.int("events") == 1 && $0.int("next_offset") == 1 })
        #expect(json.int("stored_bytes")! > 0)
        #expect(json.int("connections")! >= 1)

        let human = try await fixture.ferry("stats")
        #expect(human.status == 0)
        #expect(human.stdout.contains("stored:"))
        #expect(human.stdout.contains("users.created"))

        let prometheus = try await fixture.ferry("stats", "--prometheus")
        #expect(prometheus.status == 0)
        #expect(prometheus.stdout.contains("ferry_events_published_total 2"))
    }

    @Test("stats shows what recovery found damaged in a topic's log: regions, lost events, bytes")
    func statsShowsDamage() async throws {
        let first = try await Ferryd(["--fsync", "always"])
        for number in 0..<20 {
            #expect(try await CLIProcess.run(["publish", "orders.created", #"{"n":\#(number)}"#, "--broker", first.endpoint]).status == 0)
        }
        first.process.send(SIGTERM)
        _ = await first.process.waitForExit(timeout: .seconds(10))
        // 100 bytes overwritten in the middle of the segment.
        let directory = first.dataDirectory.appendingPathComponent("topics/orders.created")
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: directory.path).first { $0.hasSuffix(".log") })
        let handle = try FileHandle(forUpdating: directory.appendingPathComponent(segment))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        handle.write(Data(repeating: 0xAB, count: 100))
        try handle.close()

        let fixture = CLIFixture(ferryd: try await Ferryd(reusing: first))
        let json = try #require(try await fixture.ferry("stats", "--json").json() as? [String: Any])
        let topic = try #require((json["topics"] as? [[String: Any]])?.first)
        #expect(topic.int("corrupt_regions") == 1)
        #expect((1...2).contains(topic.int("lost_events") ?? 0))
        #expect(topic.int("skipped_bytes")! >= 100)
        #expect(topic.int("events")! == 20, "offsets keep their gap")
        let human = try await fixture.ferry("stats")
        #expect(human.stdout.contains("damaged:     orders.created: 1 corrupt region(s) skipped"))
        let prometheus = try await fixture.ferry("stats", "--prometheus")
        #expect(prometheus.stdout.contains(#"ferry_storage_corrupt_regions_total{topic="orders.created"} 1"#))
    }

    @Test("--help documents the exit codes and every command has help")
    func help() async throws {
        let root = try await CLIProcess.run(["--help"])
        #expect(root.status == 0)
        for text in ["65", "69", "FERRY_BROKER", "publish", "tail", "groups", "dlq", "replay", "history", "stats", "bench"] {
            #expect(root.stdout.contains(text), "\(text)")
        }
        let dlq = try await CLIProcess.run(["dlq", "--help"])
        #expect(dlq.stdout.contains("requeue"))
        for command in [
            ["publish"], ["tail"], ["groups"], ["dlq", "list"], ["dlq", "show"], ["dlq", "requeue"], ["replay"], ["history"], ["stats"],
        ] {
            let result = try await CLIProcess.run(command + ["--help"])
            #expect(result.status == 0, "\(command)")
            #expect(result.stdout.contains("--broker"), "\(command)")
        }
    }
}
