#if canImport(Glibc)
    import Glibc
#endif

/// Waits, with `poll(2)`, until at least one of `descriptors` is readable or `timeout` has
/// passed (nil: no limit; zero: just look), and returns the readable ones. For the threads and
/// test drivers that wait on a queue's or a store's notification descriptor without a socket.
public func readableDescriptors(_ descriptors: [Int32], timeout: Duration?) -> [Int32] {
    guard !descriptors.isEmpty else { return [] }
    var entries = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let milliseconds = timeout.map { Int32(clamping: max(0, $0.wholeMilliseconds)) } ?? -1
    guard poll(&entries, nfds_t(entries.count), milliseconds) > 0 else { return [] }
    return entries.filter { $0.revents & Int16(POLLIN) != 0 }.map(\.fd)
}
