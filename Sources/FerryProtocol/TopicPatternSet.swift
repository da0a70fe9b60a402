/// A set of topic patterns that says whether any of them matches a topic in time proportional
/// to the topic's length, not to the number of patterns: a trie over pattern tokens, in which
/// one topic visits each node at most once.
///
/// A group or a member that follows hundreds of patterns is then as cheap to match as one that
/// follows a few, so no Subscribe can make matching new topics stall the broker loop.
public struct TopicPatternSet: Sendable {
    private struct Node: Sendable {
        var literals: [Substring: Int] = [:]
        var any: Int?
        /// A pattern ends here with `>`: one or more further tokens match.
        var rest = false
        /// A pattern ends here.
        var end = false
    }

    private var nodes = [Node()]
    /// The patterns added, in order, without repeats.
    public private(set) var patterns: [TopicPattern] = []
    private var seen: Set<String> = []

    public init() {}

    public init(_ patterns: [TopicPattern]) {
        for pattern in patterns { insert(pattern) }
    }

    public var count: Int { patterns.count }
    public var isEmpty: Bool { patterns.isEmpty }

    public func contains(_ pattern: TopicPattern) -> Bool { seen.contains(pattern.description) }

    /// Adds `pattern`; false when the set had it already.
    @discardableResult
    public mutating func insert(_ pattern: TopicPattern) -> Bool {
        guard seen.insert(pattern.description).inserted else { return false }
        patterns.append(pattern)
        var node = 0
        let parts = pattern.description.split(separator: ".", omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() {
            if part == ">" && index == parts.count - 1 {
                nodes[node].rest = true
                return true
            }
            let next: Int
            if part == "*" {
                if let any = nodes[node].any {
                    next = any
                } else {
                    nodes.append(Node())
                    next = nodes.count - 1
                    nodes[node].any = next
                }
            } else if let literal = nodes[node].literals[part] {
                next = literal
            } else {
                nodes.append(Node())
                next = nodes.count - 1
                nodes[node].literals[part] = next
            }
            node = next
        }
        nodes[node].end = true
        return true
    }

    /// Whether any pattern of the set matches `topic`.
    public func matches(_ topic: String) -> Bool {
        guard !patterns.isEmpty else { return false }
        let tokens = topic.split(separator: ".", omittingEmptySubsequences: false)
        var stack: [(node: Int, token: Int)] = [(0, 0)]
        while let (index, token) = stack.popLast() {
            let node = nodes[index]
            if token == tokens.count {
                if node.end { return true }
                continue
            }
            if node.rest { return true }
            if let literal = node.literals[tokens[token]] { stack.append((literal, token + 1)) }
            if let any = node.any, !tokens[token].isEmpty { stack.append((any, token + 1)) }
        }
        return false
    }
}
