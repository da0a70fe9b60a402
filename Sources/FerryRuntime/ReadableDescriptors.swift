#if canImport(Glibc)
    import Glibc
#endif

/// Waits, with `poll(2)`, until at least one of `descriptors` is readable or `timeout` has
/// passed (nil: no limit; zero: just look; otherwise rounded up to the millisecond, so that a
/// short wait sleeps rather than spins), and returns the readable ones. For the threads and test
/// drivers that wait on a queue's or a store's notification descriptor without a socket.
public func readableDescriptors(_ descriptors: [Int32], timeout: Duration?) -> [Int32] {
    guard !descriptors.isEmpty else { return [] }
    var entries = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let milliseconds = timeout.map { timeout -> Int32 in
        let (seconds, attoseconds) = max(timeout, .zero).components
        let roundedUp = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        return overflow ? Int32.max : Int32(clamping: whole.addingReportingOverflow(roundedUp).partialValue)
    } ?? -1
    guard poll(&entries, nfds_t(entries.count), milliseconds) > 0 else { return [] }
    return entries.filter { $0.revents & Int16(POLLIN) != 0 }.map(\.fd)
}
