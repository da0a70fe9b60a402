import Foundation

/// What the publisher and consumer threads share while a run goes: counters for the progress
/// line, the signal to stop publishing, and how many events each group must receive.
/// Threads update it once per socket read, never per event.
final class LoadCoordinator: @unchecked Sendable {
    // @unchecked: every stored property is read and written under `lock`.
    private let lock = NSLock()
    private var _published = 0
    private var _confirmed = 0
    private var _rejected = 0
    private var _received: [Int]
    private var _publishersDone = 0
    private var _stopPublishing = false
    private var _abort = false
    private var _notSustained = false
    private let publishers: Int

    init(publishers: Int, groups: Int) {
        self.publishers = publishers
        _received = [Int](repeating: 0, count: groups)
    }

    /// A snapshot for the progress line.
    struct Snapshot {
        var published: Int
        var confirmed: Int
        var rejected: Int
        /// Events received by the slowest group.
        var consumed: Int
    }

    var snapshot: Snapshot {
        lock.withLock { Snapshot(published: _published, confirmed: _confirmed, rejected: _rejected, consumed: _received.min() ?? 0) }
    }

    func add(published: Int = 0, confirmed: Int = 0, rejected: Int = 0) {
        guard published | confirmed | rejected != 0 else { return }
        lock.withLock {
            _published += published
            _confirmed += confirmed
            _rejected += rejected
        }
    }

    /// Adds to a group's received count; returns true once the group has every confirmed event
    /// and the publishers are done.
    func received(_ count: Int, group: Int) -> Bool {
        lock.withLock {
            _received[group] += count
            return _publishersDone == publishers && _received[group] >= _confirmed
        }
    }

    func publisherFinished() { lock.withLock { _publishersDone += 1 } }

    var allPublishersFinished: Bool { lock.withLock { _publishersDone == publishers } }

    /// Asks the publishers to stop sending (duration reached, or not sustained).
    func stopPublishing(notSustained: Bool = false) {
        lock.withLock {
            _stopPublishing = true
            if notSustained { _notSustained = true }
        }
    }

    var shouldStopPublishing: Bool { lock.withLock { _stopPublishing || _abort } }
    var wasNotSustained: Bool { lock.withLock { _notSustained } }

    /// Asks every thread to end now (an error, or Ctrl-C).
    func abort() { lock.withLock { _abort = true } }
    var isAborted: Bool { lock.withLock { _abort } }
}
