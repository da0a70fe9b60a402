extension GroupStateChanges {
    /// One change set that saves what `batches` save one after the other: each group's and each
    /// cursor's latest state, and each retry's last change. A save that keeps failing is held
    /// this way, so it grows with the groups, cursors and retries it touches, not with how long
    /// the disk stays away.
    static func merged(_ batches: [GroupStateChanges]) -> GroupStateChanges {
        var merged = GroupStateChanges()
        var groupIndex: [String: Int] = [:]
        var cursorIndex: [CursorKey: Int] = [:]
        var retryIndex: [RetryID: Int] = [:]
        for changes in batches {
            for group in changes.groups {
                replaceOrAppend(group, key: group.name, in: &merged.groups, index: &groupIndex)
            }
            for cursor in changes.cursors {
                replaceOrAppend(cursor, key: CursorKey(cursor), in: &merged.cursors, index: &cursorIndex)
            }
            // Each change touches one retry's row only: the last one decides it.
            for change in changes.retryChanges {
                replaceOrAppend(change, key: change.id, in: &merged.retryChanges, index: &retryIndex)
            }
        }
        return merged
    }

    private static func replaceOrAppend<Element, Key: Hashable>(
        _ element: Element, key: Key, in elements: inout [Element], index: inout [Key: Int]
    ) {
        if let position = index[key] {
            elements[position] = element
        } else {
            index[key] = elements.count
            elements.append(element)
        }
    }
}

extension GroupStateChanges.RetryChange {
    /// The retry this change is about.
    var id: RetryID {
        switch self {
        case .added(let retry): retry.id
        case .removed(let id): id
        }
    }
}

/// Names a cursor: a group's position in one topic.
struct CursorKey: Hashable {
    let group: String
    let topic: String

    init(_ cursor: CursorState) {
        group = cursor.group
        topic = cursor.topic
    }
}
