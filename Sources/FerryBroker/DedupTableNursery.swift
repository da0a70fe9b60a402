import Dispatch
import Synchronization

/// Makes the dedup window's next, bigger ``DedupTable`` ahead of time, off the broker thread,
/// with its pages already faulted in, and unmaps the tables the window has emptied there too.
///
/// A table that doubled on the broker thread had its fresh pages faulted in one by one as keys
/// landed on them, and the old table was unmapped there when the move ended: at 64k ids that is
/// 1 536 page faults and a 3 MiB unmap within a few thousand events, seen as 3–7 ms of added
/// latency at 10 000 events/s. The window asks for its next table when the current one is
/// three-eighths full, long before it doubles at half full; when the table is not ready in time
/// (a burst far above 100 000 events/s), the window makes one on the spot as before.
final class DedupTableNursery: Sendable {
    struct Statistics: Sendable, Equatable {
        /// Tables asked for, made (jobs finished), handed over ready (still wanted when done), and
        /// taken.
        var prepared = 0
        var made = 0
        var readied = 0
        var taken = 0
        /// Emptied tables unmapped off the broker thread.
        var released = 0
    }

    /// A table on its way between the broker thread and the nursery's queue. Whoever hands a
    /// table over no longer uses it, so only one thread ever uses it at a time.
    private struct Handover: @unchecked Sendable {
        let table: DedupTable
    }

    private struct State: Sendable {
        var requestedCapacity = 0
        var ready: Handover?
        var retired: [Handover] = []
        var statistics = Statistics()
    }

    private let queue = DispatchQueue(label: "ferry.dedup-tables", qos: .utility)
    private let state = Mutex(State())

    var statistics: Statistics { state.withLock { $0.statistics } }

    /// Starts making a table of `capacity` slots, unless one is already made or under way.
    func prepare(capacity: Int) {
        let (isNew, stale) = state.withLock { state -> (Bool, Handover?) in
            guard state.requestedCapacity != capacity else { return (false, nil) }
            let stale = state.ready
            state.requestedCapacity = capacity
            state.ready = nil
            state.statistics.prepared += 1
            return (true, stale)
        }
        if let stale { release(stale.table) }
        guard isNew else { return }
        queue.async { [self] in
            // A table no longer asked for when it is done is unmapped here, at the end of this job
            // (no other thread ever saw it).
            let table = Handover(table: DedupTable(capacity: capacity, prefaulted: true))
            state.withLock { state in
                state.statistics.made += 1
                guard state.requestedCapacity == capacity else { return }
                state.ready = table
                state.statistics.readied += 1
            }
        }
    }

    /// The table of `capacity` slots asked for with ``prepare(capacity:)``, if it is ready. One
    /// that is not ready yet is no longer wanted (the caller makes its own).
    func take(capacity: Int) -> DedupTable? {
        let handover = state.withLock { state -> Handover? in
            guard state.requestedCapacity == capacity else { return nil }
            state.requestedCapacity = 0
            guard let table = state.ready else { return nil }
            state.ready = nil
            state.statistics.taken += 1
            return table
        }
        return handover?.table
    }

    /// Unmaps `table` off the caller's thread; the caller no longer uses it (whichever thread
    /// drops the last reference then frees only the object, not the slots).
    func release(_ table: DedupTable) {
        let handover = Handover(table: table)
        state.withLock { $0.retired.append(handover) }
        queue.async { [self] in
            let retired = state.withLock { state -> [Handover] in
                let tables = state.retired
                state.retired = []
                state.statistics.released += tables.count
                return tables
            }
            for handover in retired { handover.table.unmap() }
        }
    }
}
