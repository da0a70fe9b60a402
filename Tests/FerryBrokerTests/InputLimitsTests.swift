import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// Every input a client can send is bounded: the whole event, the frame, patterns per
/// Subscribe, ids per dead-letter command, topics and groups. Each limit is announced or
/// documented, refused with a clear code, and ferryd keeps serving. Raw DEALERs on threads of
/// their own.
@Suite("Input limits: events, frames, patterns, ids, topics and groups", .serialized, .timeLimit(.minutes(3)))
struct InputLimitsTests {
    @Test("Welcome announces the event, frame, pattern and id limits")
    func welcomeAnnouncesLimits() async throws {
        let ferryd = try await Ferryd(["--max-payload-bytes", "1024", "--storage", "memory"])
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            try client.send(.hello(Hello()))
            guard case .welcome(let welcome)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(welcome.maxPayloadBytes == 1024)
            #expect(welcome.maxEventBytes == 1024 + 65536)
            #expect(welcome.maxFrameBytes == 16 << 20)
            #expect(welcome.maxPatterns == 256)
            #expect(welcome.maxIds == 10_000)
        }
    }

    @Test("an event whose bulk is in headers, type or correlation id is rejected whole; nothing is stored")
    func eventBeyondItsLimit() async throws {
        let ferryd = try await Ferryd(["--max-payload-bytes", "1024", "--storage", "memory"])
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            func item(_ sequence: UInt64, _ change: (inout WireEvent) -> Void) -> PublishItem {
                var item = PublishItem()
                item.sequence = sequence
                item.event.topic = "big"
                item.event.id = "e\(sequence)"
                change(&item.event)
                return item
            }
            let bulk = String(repeating: "x", count: 70_000)
            var publish = Publish()
            publish.items = [
                item(1) { $0.headers = ["bulk": bulk] },
                item(2) { $0.type = bulk },
                item(3) { $0.correlationID = bulk },
                item(4) { $0.headers = ["small": "ok"] },
            ]
            try client.send(.publish(publish))
            guard case .publishResult(let result)? = try client.receive()?.reply else {
                throw RawClient.UnexpectedReply(reply: nil)
            }
            #expect(result.confirmed == [4])
            #expect(result.rejected.map(\.sequence) == [1, 2, 3])
            #expect(result.rejected.allSatisfy { $0.code == .payloadTooLarge && $0.message.contains("whole event") })
            let stats = try client.stats()
            #expect(stats.topics.first { $0.name == "big" }?.nextOffset == 1)
            #expect(stats.prometheusText.contains("ferry_events_rejected_total{code=\"PAYLOAD_TOO_LARGE\"} 3"))
        }
    }

    @Test("a frame over max_frame_bytes is dropped unread with its connection; others are served")
    func frameBeyondItsLimit() async throws {
        let ferryd = try await Ferryd(["--storage", "memory"])
        try await onOwnThread {
            let hostile = try RawClient(endpoint: ferryd.endpoint)
            // 20 MiB of garbage, over the 16 MiB default.
            try hostile.sendFrames([WireFormat.signature, [UInt8](repeating: 0x0A, count: 20 << 20)])
            #expect(try hostile.receive(timeout: .seconds(2)) == nil, "an oversized frame must not be read and answered")
            let other = try RawClient(endpoint: ferryd.endpoint)
            let stats = try other.stats()
            #expect(stats.storedBytes == 0)
        }
    }

    @Test("an undecodable command is answered with its request id when field 1 could be read")
    func undecodableKeepsRequestID() async throws {
        let ferryd = try await Ferryd(["--storage", "memory"])
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            // request_id 42, then a Publish (field 11) whose length runs past the end.
            try client.sendFrames([WireFormat.signature, [0x08, 42, 0x5A, 0x7F, 0x01]])
            let reply = try #require(try client.receive())
            #expect(reply.requestID == 42)
            guard case .error(let error) = reply.reply else { throw RawClient.UnexpectedReply(reply: reply) }
            #expect(error.code == .malformedFrame)
        }
    }

    @Test("patterns per Subscribe and per group are bounded; a group reports every pattern it follows")
    func patternLimits() async throws {
        let ferryd = try await Ferryd(["--storage", "memory"])
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            func subscribe(_ group: String, _ patterns: [String]) throws -> ServerMessage? {
                var subscribe = Subscribe()
                subscribe.group = group
                subscribe.patterns = patterns
                try client.send(.subscribe(subscribe))
                return try client.receive()
            }
            let tooMany = try subscribe("g", (0..<257).map { "t.\($0)" })
            guard case .error(let error)? = tooMany?.reply else { throw RawClient.UnexpectedReply(reply: tooMany) }
            #expect(error.code == .batchTooLarge)
            #expect(error.message.contains("256"))

            // 256 patterns: accepted; four such subscribes reach the group's 1024.
            for round in 0..<4 {
                let reply = try subscribe("g", (0..<256).map { "r\(round).\($0)" })
                guard case .subscribed? = reply?.reply else { throw RawClient.UnexpectedReply(reply: reply) }
            }
            let past = try subscribe("g", ["one.more"])
            guard case .error(let groupError)? = past?.reply else { throw RawClient.UnexpectedReply(reply: past) }
            #expect(groupError.code == .batchTooLarge)
            // Patterns it already follows are no addition.
            let again = try subscribe("g", ["r0.1"])
            guard case .subscribed(let subscribed)? = again?.reply else { throw RawClient.UnexpectedReply(reply: again) }

            var unsubscribe = Unsubscribe()
            unsubscribe.subscriptionID = subscribed.subscriptionID
            try client.send(.unsubscribe(unsubscribe))
            _ = try client.receive()
            let stats = try client.stats()
            let group = try #require(stats.groups.first { $0.name == "g" })
            #expect(group.patterns.count == 1024, "the group follows every pattern it had, members or not")
        }
    }

    @Test("a pattern longer than a topic, an overlong member name and a padded non-Publish command are refused")
    func oversizedCommandParts() async throws {
        let ferryd = try await Ferryd(["--storage", "memory"])
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            var subscribe = Subscribe()
            subscribe.group = "g"
            subscribe.patterns = [Array(repeating: "a", count: 200).joined(separator: ".")]
            try client.send(.subscribe(subscribe))
            guard case .error(let long)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(long.code == .invalidArgument && long.message.contains("255"))

            subscribe.patterns = ["t"]
            subscribe.memberName = String(repeating: "m", count: 256)
            try client.send(.subscribe(subscribe))
            guard case .error(let name)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(name.code == .invalidArgument)

            // 2 MiB of ids in a purge: refused before it is decoded.
            var purge = DeadLetterPurge()
            purge.group = "g"
            purge.ids = (1...300_000).map { UInt64($0) << 20 }
            try client.send(.deadLetterPurge(purge))
            guard case .error(let padded)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(padded.code == .batchTooLarge && padded.message.contains("other than Publish"))

            // More items than max_batch, however small.
            var publish = Publish()
            publish.items = (0...4096).map { _ in PublishItem() }
            try client.send(.publish(publish))
            guard case .error(let items)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(items.code == .batchTooLarge)
            #expect(try client.stats().connections >= 1)
        }
    }

    @Test("dead-letter commands: ids are bounded, an empty group is UNKNOWN_GROUP, unknown ids cost little")
    func deadLetterCommandLimits() async throws {
        let ferryd = try await Ferryd(["--storage", "memory"])
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            var subscribe = Subscribe()
            subscribe.group = "g"
            subscribe.patterns = ["t"]
            _ = try client.subscribe(.subscribe(subscribe))

            var purge = DeadLetterPurge()
            purge.group = "g"
            purge.ids = (1...10_001).map { UInt64($0) }
            try client.send(.deadLetterPurge(purge))
            guard case .error(let error)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(error.code == .batchTooLarge)

            var requeue = DeadLetterRequeue()
            requeue.group = "g"
            requeue.ids = (1...10_000).map { UInt64($0) }
            try client.send(.deadLetterRequeue(requeue))
            guard case .deadLetterCount(let count)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(count.count == 0)

            for command: ClientMessage.OneOf_Command in [
                .deadLetterList(DeadLetterList()), .deadLetterPurge(DeadLetterPurge()), .deadLetterRequeue(DeadLetterRequeue()),
            ] {
                try client.send(command)
                guard case .error(let error)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
                #expect(error.code == .unknownGroup, "\(command)")
            }
        }
    }

    @Test("topics and groups are bounded: past the limit, RESOURCE_EXHAUSTED and nothing created")
    func topicAndGroupLimits() async throws {
        let ferryd = try await Ferryd(["--max-topics", "3", "--max-groups", "2"])
        try await onOwnThread {
            let client = try RawClient(endpoint: ferryd.endpoint)
            var publish = Publish()
            publish.items = (1...5).map { number in
                var item = PublishItem()
                item.sequence = UInt64(number)
                item.event.topic = "topic\(number)"
                item.event.id = "e\(number)"
                return item
            }
            try client.send(.publish(publish))
            guard case .publishResult(let result)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(result.confirmed == [1, 2, 3])
            #expect(result.rejected.map(\.sequence) == [4, 5])
            #expect(result.rejected.allSatisfy { $0.code == .resourceExhausted && $0.message.contains("max_topics") })

            for group in ["a", "b"] {
                var subscribe = Subscribe()
                subscribe.group = group
                subscribe.patterns = ["quiet"]
                _ = try client.subscribe(.subscribe(subscribe))
            }
            var third = Subscribe()
            third.group = "c"
            third.patterns = ["quiet"]
            try client.send(.subscribe(third))
            guard case .error(let error)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(error.code == .resourceExhausted)
            #expect(error.message.contains("max_groups"))
            let stats = try client.stats()
            #expect(stats.topics.map(\.name).sorted() == ["topic1", "topic2", "topic3"])
            #expect(stats.groups.map(\.name) == ["a", "b"])
        }
    }
}
