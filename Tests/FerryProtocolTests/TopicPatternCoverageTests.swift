import FerryProtocol
import Testing

/// Grants are patterns over patterns: a grant covers a subscription when every topic the
/// subscription can match is granted, and a deny rule touches it when one topic matches both.
@Suite("Pattern coverage and intersection, for grants")
struct TopicPatternCoverageTests {
    @Test(
        "a grant covers a pattern only when it matches every topic the pattern can match",
        arguments: [
            (">", "orders.created", true), (">", "orders.*", true), (">", ">", true), (">", "*", true),
            ("orders.>", "orders.created", true), ("orders.>", "orders.*", true), ("orders.>", "orders.*.eu", true),
            ("orders.>", "orders.>", true), ("orders.>", "orders", false), ("orders.>", ">", false), ("orders.>", "*.created", false),
            ("orders.*", "orders.created", true), ("orders.*", "orders.*", true), ("orders.*", "orders.>", false),
            ("orders.*", "orders.a.b", false), ("*.created", "orders.created", true), ("*.created", "*.created", true),
            ("*.created", "orders.*", false), ("orders.created", "orders.created", true), ("orders.created", "orders.*", false),
            ("*", "orders", true), ("*", "orders.created", false), ("*.>", "orders.created", true), ("*.>", "orders", false),
        ])
    func covers(grant: String, wanted: String, expected: Bool) throws {
        #expect(try TopicPattern(grant).covers(TopicPattern(wanted)) == expected)
    }

    @Test(
        "two patterns intersect when some topic matches both",
        arguments: [
            ("orders.>", "orders.created", true), ("orders.>", "*.created", true), ("orders.>", "payments.>", false),
            ("orders.>", "orders", false), ("orders.private.>", "orders.*.paid", true), ("orders.private.>", "orders.eu.paid", false),
            ("orders.*", "orders.a.b", false), ("orders.*", "*.b", true), ("a.*.c", "a.b.*", true), ("a.*.c", "a.b.d", false),
            (">", "x", true), ("*", "a.b", false), ("*.>", "a", false), ("*.>", "a.b.c", true),
        ])
    func intersects(left: String, right: String, expected: Bool) throws {
        #expect(try TopicPattern(left).intersects(TopicPattern(right)) == expected)
        #expect(try TopicPattern(right).intersects(TopicPattern(left)) == expected, "symmetric")
    }

    @Test("coverage agrees with matching on concrete topics")
    func agreesWithMatching() throws {
        let topics = ["a", "b", "a.b", "a.c", "b.b", "a.b.c", "a.b.b", "b.a.c"]
        let patterns = ["a", "*", ">", "a.*", "*.b", "a.>", "*.>", "a.b", "a.*.c", "*.*", "*.*.*", "b.>"]
        for grant in patterns {
            for wanted in patterns {
                let covers = try TopicPattern(grant).covers(TopicPattern(wanted))
                let intersects = try TopicPattern(grant).intersects(TopicPattern(wanted))
                for topic in topics where try TopicPattern(wanted).matches(topic) {
                    // What the wanted pattern matches, a covering grant matches too.
                    if covers { #expect(try TopicPattern(grant).matches(topic), "\(grant) covers \(wanted) but not \(topic)") }
                    // A common topic means they intersect.
                    if try TopicPattern(grant).matches(topic) { #expect(intersects, "\(grant) and \(wanted) share \(topic)") }
                }
            }
        }
    }
}
