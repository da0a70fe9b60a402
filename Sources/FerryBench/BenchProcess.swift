import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What the load generator tunes and measures of its own process (its time is
/// ``MonotonicInstant``, the clock the payload carries).
enum BenchProcess {
    /// Sets the calling thread's timer slack to 1 ns (`prctl(PR_SET_TIMERSLACK)`), as the peers'
    /// fixed-rate publisher does, so sleeps end when asked. `prctl` is variadic, which Swift cannot
    /// call directly; it is looked up and called with its five integer arguments.
    static func minimizeTimerSlack() {
        #if os(Linux)
            typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") else { return }
            _ = unsafeBitCast(symbol, to: Prctl.self)(29, 1, 0, 0, 0)  // 29: PR_SET_TIMERSLACK
        #endif
    }

    /// CPU time (user + system) this process used so far, in seconds.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
