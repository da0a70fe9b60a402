public import FerryProtocol

/// What a principal's `allow` (or `deny`) rules name: topic patterns it may publish to, topics
/// and groups it may subscribe to, groups it may administer, and the broker-wide reads.
public struct Grants: Sendable, Equatable {
    /// Topics events may be published to.
    public var publish: [TopicPattern] = []
    /// Topics a subscription's patterns may reach (ephemeral groups need only these).
    public var subscribeTopics: [TopicPattern] = []
    /// Names of the durable groups that may be joined (`.`-separated tokens, `*` and `>`).
    public var subscribeGroups: [TopicPattern] = []
    /// Groups whose dead letters may be listed, requeued or purged, and whose cursors may move.
    public var adminGroups: [TopicPattern] = []
    /// `HistoryRequest`: every stored event of a key, whatever its topic.
    public var history = false
    /// `StatsRequest`: every group's and topic's figures.
    public var stats = false

    public init() {}

    /// Whether any of `patterns` matches `name` (a topic or a group name).
    static func any(_ patterns: [TopicPattern], matches name: String) -> Bool {
        patterns.contains { $0.matches(name) }
    }
}

/// An identity ferryd knows: its name, the CURVE public keys that authenticate as it, and what
/// it may do. Deny rules win over allow rules; what no rule allows is denied.
public struct Principal: Sendable, Equatable {
    public let name: String
    /// Client public keys, in Z85 text (40 characters).
    public let keys: [String]
    public let allow: Grants
    public let deny: Grants

    public init(name: String, keys: [String], allow: Grants, deny: Grants = Grants()) {
        self.name = name
        self.keys = keys
        self.allow = allow
        self.deny = deny
    }

    /// Whether events may be published to `topic`.
    public func mayPublish(to topic: String) -> Bool {
        Grants.any(allow.publish, matches: topic) && !Grants.any(deny.publish, matches: topic)
    }

    /// Whether a subscription to `patterns` in `group` is allowed: every topic a pattern can
    /// match must be allowed and none denied, and for a durable group its name must be allowed.
    /// Returns the reason when it is not.
    public func refusal(subscribingTo patterns: [TopicPattern], group: String, ephemeral: Bool) -> String? {
        if !ephemeral {
            if !Grants.any(allow.subscribeGroups, matches: group) { return "no grant to subscribe as group '\(group)'" }
            if Grants.any(deny.subscribeGroups, matches: group) { return "group '\(group)' is denied" }
        }
        for pattern in patterns {
            if !allow.subscribeTopics.contains(where: { $0.covers(pattern) }) {
                return "no grant to subscribe to every topic of '\(pattern)'"
            }
            if let denied = deny.subscribeTopics.first(where: { $0.intersects(pattern) }) {
                return "'\(pattern)' reaches topics denied by '\(denied)'"
            }
        }
        return nil
    }

    /// Whether `group`'s dead letters and cursors may be administered.
    public func mayAdminister(group: String) -> Bool {
        Grants.any(allow.adminGroups, matches: group) && !Grants.any(deny.adminGroups, matches: group)
    }

    public var mayReadHistory: Bool { allow.history && !deny.history }
    public var mayReadStats: Bool { allow.stats && !deny.stats }
}
