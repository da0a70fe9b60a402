extension String {
    /// This text cut to at most `maxBytes` bytes of UTF-8, on a character boundary, ending in
    /// "…" when something was cut (the ellipsis counts toward `maxBytes`).
    public func truncated(toUTF8Bytes maxBytes: Int) -> String {
        guard utf8.count > maxBytes else { return self }
        let ellipsis = "…"
        let budget = maxBytes - ellipsis.utf8.count
        guard budget > 0 else { return String(ellipsis.prefix(maxBytes > 0 ? 1 : 0)) }
        var kept = ""
        var used = 0
        for character in self {
            let size = character.utf8.count
            if used + size > budget { break }
            kept.append(character)
            used += size
        }
        return kept + ellipsis
    }
}
