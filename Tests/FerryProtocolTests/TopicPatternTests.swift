import FerryProtocol
import Testing

@Suite("Topic names and patterns")
struct TopicPatternTests {
    static func pattern(_ text: String) throws -> TopicPattern { try TopicPattern(text) }

    @Test("an exact pattern matches only its own topic")
    func exact() throws {
        let pattern = try Self.pattern("orders.created")
        #expect(pattern.description == "orders.created")
        #expect(pattern.matches("orders.created"))
        for topic in [
            "orders", "orders.created.eu", "orders.create", "orders.createdX", "Orders.created", "xorders.created", "orders.", "",
            "orders.created.",
        ] {
            #expect(!pattern.matches(topic), "\(topic)")
        }
    }

    @Test(
        "'*' matches exactly one non-empty token",
        arguments: [
            ("orders.*", "orders.created", true), ("orders.*", "orders.x-1_Y", true),
            ("orders.*", "orders", false), ("orders.*", "orders.", false), ("orders.*", "orders.created.eu", false),
            ("orders.*", "payments.created", false),
            ("*.created", "orders.created", true), ("*.created", "created", false), ("*.created", ".created", false),
            ("*", "orders", true), ("*", "orders.created", false), ("*", "", false),
            ("a.*.c", "a.b.c", true), ("a.*.c", "a..c", false), ("a.*.c", "a.b.d", false), ("a.*.c", "a.b.c.d", false),
            ("*.*", "a.b", true), ("*.*", "a", false), ("*.*", "a.b.c", false),
        ])
    func singleWildcard(pattern: String, topic: String, matches: Bool) throws {
        #expect(try Self.pattern(pattern).matches(topic) == matches)
    }

    @Test(
        "a final '>' matches one or more trailing tokens",
        arguments: [
            ("orders.>", "orders.created", true), ("orders.>", "orders.created.eu.west", true),
            ("orders.>", "orders", false), ("orders.>", "orders.", false), ("orders.>", "ordersx.created", false),
            ("orders.>", "payments.created", false),
            (">", "a", true), (">", "a.b.c", true), (">", "", false),
            ("*.>", "a.b", true), ("*.>", "a.b.c", true), ("*.>", "a", false),
            ("a.*.>", "a.b.c", true), ("a.*.>", "a.b", false),
        ])
    func trailingWildcard(pattern: String, topic: String, matches: Bool) throws {
        #expect(try Self.pattern(pattern).matches(topic) == matches)
    }

    @Test(
        "malformed patterns throw INVALID_ARGUMENT",
        arguments: [
            "", ".", "a.", ".a", "a..b", ">.a", "a.>.b", "a.>.>", "a*", "a>", "**", "a.*x", "a b", "a/b", "é", "orders.créé",
        ])
    func invalidPattern(text: String) {
        let error = #expect(throws: ProtocolError.self) { try TopicPattern(text) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("'\(text)'") == true)
    }

    @Test("patterns compare and hash by their text")
    func hashable() throws {
        let set: Set<TopicPattern> = [try Self.pattern("a.*"), try Self.pattern("a.*"), try Self.pattern("a.>")]
        #expect(set.count == 2)
        #expect(try Self.pattern("a.b") == Self.pattern("a.b"))
        #expect(try Self.pattern("a.b") != Self.pattern("a.c"))
    }

    @Test(
        "valid topic names pass",
        arguments: [
            "a", "orders.created", "A-Z_0-9.x", "v1.2.3", String(repeating: "a", count: 255),
            String(repeating: "ab.", count: 84) + "abc",
        ])
    func validTopic(topic: String) throws {
        try TopicName.validate(topic)
    }

    @Test(
        "invalid topic names throw INVALID_ARGUMENT",
        arguments: [
            "", ".", "a.", ".a", "a..b", "a b", "a/b", "é", "*", ">", "orders.*", "orders.>", "a\u{0}b",
            String(repeating: "a", count: 256),
        ])
    func invalidTopic(topic: String) {
        let error = #expect(throws: ProtocolError.self) { try TopicName.validate(topic) }
        #expect(error?.code == .invalidArgument)
    }

    @Test("the topic length limit counts UTF-8 bytes and is configurable")
    func topicLength() throws {
        try TopicName.validate("abcd", maxBytes: 4)
        let error = #expect(throws: ProtocolError.self) { try TopicName.validate("abcde", maxBytes: 4) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("1-4 bytes") == true)
    }
}
