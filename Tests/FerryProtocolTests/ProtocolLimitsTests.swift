import FerryProtocol
import Foundation
import Testing

@Suite("Protocol limits")
struct ProtocolLimitsTests {
    static func event(topic: String = "orders.created", id: String = "e-1", key: String = "", payload: Int = 0) -> WireEvent {
        var event = WireEvent()
        event.topic = topic
        event.id = id
        event.key = key
        event.payload = Data(repeating: 7, count: payload)
        return event
    }

    static func code(_ event: WireEvent, limits: ProtocolLimits = ProtocolLimits()) -> ErrorCode? {
        do {
            try limits.validate(event)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("the defaults")
    func defaults() {
        let limits = ProtocolLimits()
        #expect(limits.maxPayloadBytes == 1 << 20)
        #expect(limits.maxBatch == 4096)
        #expect(limits.maxTopicBytes == 255)
        #expect(limits.maxEventIDBytes == 255)
        #expect(limits.maxKeyBytes == 1024)
        #expect(limits.maxGroupBytes == 255)
        #expect(limits.maxEventBytes == (1 << 20) + (64 << 10))
        #expect(limits.maxFrameBytes == 16 << 20)
        #expect(limits.maxPatternsPerSubscribe == 256 && limits.maxPatternsPerGroup == 1024)
        #expect(limits.maxIDsPerCommand == 10_000)
        // A payload limit past 16 MiB takes the frame limit with it.
        var large = ProtocolLimits()
        large.setMaxPayloadBytes(32 << 20)
        #expect(large.maxEventBytes == (32 << 20) + (64 << 10))
        #expect(large.maxFrameBytes == (32 << 20) + (128 << 10))
        #expect(limits == ProtocolLimits())
        #expect(limits != ProtocolLimits(maxKeyBytes: 1))
    }

    @Test("a well-formed event passes, at every limit exactly")
    func valid() throws {
        let limits = ProtocolLimits()
        try limits.validate(Self.event())
        try limits.validate(
            Self.event(
                topic: String(repeating: "t", count: 255), id: String(repeating: "i", count: 255),
                key: String(repeating: "k", count: 1024), payload: 1 << 20))
    }

    @Test("a missing topic or id is MISSING_FIELD")
    func missing() throws {
        #expect(Self.code(Self.event(topic: "")) == .missingField)
        #expect(Self.code(Self.event(id: "")) == .missingField)
        let error = #expect(throws: ProtocolError.self) { try ProtocolLimits().validate(Self.event(topic: "", id: "")) }
        #expect(error?.code == .missingField)
        #expect(error?.message == "event.topic is required", "the topic is checked first")
        let id = #expect(throws: ProtocolError.self) { try ProtocolLimits().validate(Self.event(id: "")) }
        #expect(id?.message == "event.id is required")
    }

    @Test("a malformed topic is INVALID_ARGUMENT")
    func badTopic() {
        #expect(Self.code(Self.event(topic: "orders..created")) == .invalidArgument)
        #expect(Self.code(Self.event(topic: "orders.*")) == .invalidArgument)
        #expect(Self.code(Self.event(topic: String(repeating: "t", count: 256))) == .invalidArgument)
        #expect(Self.code(Self.event(topic: "orders"), limits: ProtocolLimits(maxTopicBytes: 5)) == .invalidArgument)
    }

    @Test("an oversized payload is PAYLOAD_TOO_LARGE")
    func payload() {
        #expect(Self.code(Self.event(payload: (1 << 20) + 1)) == .payloadTooLarge)
        let small = ProtocolLimits(maxPayloadBytes: 16)
        #expect(Self.code(Self.event(payload: 16), limits: small) == nil)
        let error = #expect(throws: ProtocolError.self) { try small.validate(Self.event(payload: 17)) }
        #expect(error?.code == .payloadTooLarge)
        #expect(error?.message == "payload is 17 bytes; the limit is 16")
    }

    @Test("an over-long key or id is INVALID_ARGUMENT, counted in UTF-8 bytes")
    func longKeyAndID() {
        #expect(Self.code(Self.event(key: String(repeating: "k", count: 1025))) == .invalidArgument)
        #expect(Self.code(Self.event(id: String(repeating: "i", count: 256))) == .invalidArgument)
        let limits = ProtocolLimits(maxEventIDBytes: 4, maxKeyBytes: 4)
        #expect(Self.code(Self.event(id: "éé", key: "éé"), limits: limits) == nil)
        #expect(Self.code(Self.event(id: "e", key: "ééé"), limits: limits) == .invalidArgument)
        #expect(Self.code(Self.event(id: "ééé", key: "k"), limits: limits) == .invalidArgument)
    }

    @Test("group names: required, [A-Za-z0-9_.-], at most maxGroupBytes")
    func groups() throws {
        let limits = ProtocolLimits()
        for group in ["email", "billing.v2-eu_1", "A", String(repeating: "g", count: 255)] {
            try limits.validateGroup(group)
        }
        let empty = #expect(throws: ProtocolError.self) { try limits.validateGroup("") }
        #expect(empty?.code == .missingField)
        for group in ["a b", "a/b", "a*", "a>", "é", "a:b", String(repeating: "g", count: 256)] {
            let error = #expect(throws: ProtocolError.self) { try limits.validateGroup(group) }
            #expect(error?.code == .invalidArgument, "\(group)")
        }
        let short = ProtocolLimits(maxGroupBytes: 3)
        try short.validateGroup("abc")
        #expect(throws: ProtocolError.self) { try short.validateGroup("abcd") }
    }
}
