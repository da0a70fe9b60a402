extension TopicPattern {
    /// Whether every topic that `other` can match is matched by this pattern too: a grant of
    /// this pattern allows a subscription to `other`.
    ///
    /// `orders.>` covers `orders.*` and `orders.eu.created`; `orders.*` does not cover
    /// `orders.>` (which matches `orders.eu.created`).
    public func covers(_ other: TopicPattern) -> Bool {
        Self.covers(tokens[...], other.tokens[...])
    }

    /// Whether some topic is matched by both patterns: a deny rule of this pattern touches a
    /// subscription to `other`.
    public func intersects(_ other: TopicPattern) -> Bool {
        Self.intersects(tokens[...], other.tokens[...])
    }

    private static func covers(_ grant: ArraySlice<Token>, _ wanted: ArraySlice<Token>) -> Bool {
        guard let first = grant.first else { return wanted.isEmpty }
        guard let wantedFirst = wanted.first else { return false }
        switch (first, wantedFirst) {
        // `>` takes one or more tokens: whatever `wanted` still has (at least one token).
        case (.rest, _): return true
        // Only `>` covers `>` (any number of tokens).
        case (_, .rest): return false
        case (.any, _): return covers(grant.dropFirst(), wanted.dropFirst())
        case (.literal(let granted), .literal(let asked)) where granted == asked:
            return covers(grant.dropFirst(), wanted.dropFirst())
        default: return false
        }
    }

    private static func intersects(_ left: ArraySlice<Token>, _ right: ArraySlice<Token>) -> Bool {
        guard let leftFirst = left.first, let rightFirst = right.first else { return left.isEmpty && right.isEmpty }
        switch (leftFirst, rightFirst) {
        // `>` absorbs the other side's remaining tokens, one or more of them.
        case (.rest, _), (_, .rest): return true
        case (.literal(let a), .literal(let b)) where a != b: return false
        default: return intersects(left.dropFirst(), right.dropFirst())
        }
    }
}
