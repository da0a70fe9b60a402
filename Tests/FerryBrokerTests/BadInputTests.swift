import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// Bad input against a real ferryd: every kind gets a clear error, is counted, and the broker
/// keeps serving. The raw sockets block, so each test runs on a thread of its own.
@Suite("Bad input gets an error reply and ferryd keeps serving", .serialized)
struct BadInputTests {
    let ferryd: Ferryd

    init() async throws {
        ferryd = try await Ferryd(["--max-payload-bytes", "1024"])
    }

    @Test("malformed frames, unknown commands and wrong versions get their error codes")
    func malformedFrames() async throws {
        try await onOwnThread { [ferryd] in
            let client = try RawClient(endpoint: ferryd.endpoint)
            let cases: [(frames: [[UInt8]], code: ErrorCode)] = [
                ([WireFormat.signature], .malformedFrame),
                ([Array("HTTP".utf8), [0x0A, 0x00]], .malformedFrame),
                ([WireFormat.signature, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]], .malformedFrame),
                ([[0x46, 0x52, 0x59, 0x02], []], .unsupportedVersion),
                ([WireFormat.signature, [], [1, 2, 3]], .malformedFrame),
            ]
            for (frames, code) in cases {
                try client.sendFrames(frames)
                let reply = try #require(try client.receive())
                guard case .error(let error) = reply.reply else {
                    Issue.record("expected an error for \(frames), got \(reply)")
                    continue
                }
                #expect(error.code == code, "frames \(frames)")
                #expect(!error.message.isEmpty)
            }
            let requestID = try client.send(nil, requestID: 77)
            let unknown = try #require(try client.receive())
            #expect(unknown.requestID == requestID)
            guard case .error(let error) = unknown.reply else {
                Issue.record("expected UNKNOWN_COMMAND, got \(unknown)")
                return
            }
            #expect(error.code == .unknownCommand)

            // The same connection and a new one are still served.
            try client.send(.hello(Hello()))
            guard case .welcome? = try client.receive()?.reply else {
                Issue.record("no Welcome after bad input")
                return
            }
            let other = try RawClient(endpoint: ferryd.endpoint)
            try other.send(.stats(StatsRequest()))
            guard case .stats(let stats)? = try other.receive()?.reply else {
                Issue.record("no Stats for a second client")
                return
            }
            #expect(stats.prometheusText.contains("ferry_protocol_errors_total{code=\"MALFORMED_FRAME\"} 4"))
            #expect(stats.prometheusText.contains("ferry_protocol_errors_total{code=\"UNKNOWN_COMMAND\"} 1"))
        }
    }

    @Test("an oversized payload or a missing field rejects only that event")
    func perItemRejections() async throws {
        try await onOwnThread { [ferryd] in
            let client = try RawClient(endpoint: ferryd.endpoint)
            func item(_ sequence: UInt64, topic: String, id: String, payloadBytes: Int) -> PublishItem {
                var item = PublishItem()
                item.sequence = sequence
                item.event.topic = topic
                item.event.id = id
                item.event.payload = Data(repeating: 0x61, count: payloadBytes)
                return item
            }
            var publish = Publish()
            publish.items = [
                item(1, topic: "orders.created", id: "a", payloadBytes: 10),
                item(2, topic: "orders.created", id: "b", payloadBytes: 4096),
                item(3, topic: "", id: "c", payloadBytes: 10),
                item(4, topic: "orders..created", id: "d", payloadBytes: 10),
                item(5, topic: "orders.created", id: "", payloadBytes: 10),
                item(6, topic: "orders.created", id: "e", payloadBytes: 1024),
            ]
            try client.send(.publish(publish))
            guard case .publishResult(let result)? = try client.receive()?.reply else {
                Issue.record("no PublishResult")
                return
            }
            #expect(result.confirmed == [1, 6])
            #expect(result.offsets == [0, 1])
            let codes = Dictionary(uniqueKeysWithValues: result.rejected.map { ($0.sequence, $0.code) })
            #expect(codes == [2: .payloadTooLarge, 3: .missingField, 4: .invalidArgument, 5: .missingField])
            #expect(result.rejected.allSatisfy { !$0.message.isEmpty })

            var tooMany = Publish()
            tooMany.items = (0..<4097).map { item(UInt64($0), topic: "t", id: "x\($0)", payloadBytes: 1) }
            try client.send(.publish(tooMany))
            guard case .error(let error)? = try client.receive()?.reply else {
                Issue.record("no error for an oversized batch")
                return
            }
            #expect(error.code == .batchTooLarge)
        }
    }

    @Test("commands with bad arguments get errors naming the problem")
    func badArguments() async throws {
        try await onOwnThread { [ferryd] in
            let client = try RawClient(endpoint: ferryd.endpoint)
            var subscribe = Subscribe()
            subscribe.group = "g"
            subscribe.patterns = ["orders.>.x"]
            try client.send(.subscribe(subscribe))
            guard case .error(let patternError)? = try client.receive()?.reply else {
                Issue.record("no error for a bad pattern")
                return
            }
            #expect(patternError.code == .invalidArgument)

            var list = DeadLetterList()
            list.group = "nobody"
            try client.send(.deadLetterList(list))
            guard case .error(let groupError)? = try client.receive()?.reply else {
                Issue.record("no error for an unknown group")
                return
            }
            #expect(groupError.code == .unknownGroup)

            var unsubscribe = Unsubscribe()
            unsubscribe.subscriptionID = 99
            try client.send(.unsubscribe(unsubscribe))
            guard case .error(let subscriptionError)? = try client.receive()?.reply else {
                Issue.record("no error for an unknown subscription")
                return
            }
            #expect(subscriptionError.code == .unknownSubscription)
        }
    }
}
