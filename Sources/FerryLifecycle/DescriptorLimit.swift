#if canImport(Glibc)
    import Glibc
#endif

/// The process's limit on open file descriptors (`RLIMIT_NOFILE`).
///
/// A broker holds a descriptor per connection and per open segment file; the soft limit many
/// systems start processes with (1024) is far below the hard one. ferryd raises it to the hard
/// limit at start and logs both, so that an operator sees what it has to work with.
public enum DescriptorLimit {
    /// The current soft and hard limits.
    public static var current: (soft: Int, hard: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (1024, 1024) }
        return (clamp(limit.rlim_cur), clamp(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one; returns the limits in force afterwards.
    @discardableResult
    public static func raiseToHardLimit() -> (soft: Int, hard: Int) {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return current
    }

    private static func clamp(_ value: rlim_t) -> Int { Int(clamping: value) }
}
