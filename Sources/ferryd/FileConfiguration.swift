import FerryBroker
import FerryProtocol
import FerryStorage
import Foundation
import Yams

/// ferryd's configuration file (YAML or JSON). Every key is optional; flags win over the file.
///
/// ```yaml
/// endpoint: tcp://127.0.0.1:7400
/// heartbeat_interval_ms: 1000
/// retry: { initial_delay_ms: 1000, multiplier: 2.0, max_delay_ms: 60000, max_attempts: 5 }
/// groups:
///   email: { retry: { max_attempts: 3, ack_timeout_ms: 10000 } }
/// ```
struct FileConfiguration: Decodable {
    struct Retry: Decodable {
        var initialDelayMs: UInt32?
        var multiplier: Double?
        var maxDelayMs: UInt32?
        var maxAttempts: UInt32?
        var jitter: Double?
        var ackTimeoutMs: UInt32?

        func apply(to policy: RetryPolicy) -> RetryPolicy {
            var policy = policy
            if let initialDelayMs { policy.initialDelayMilliseconds = initialDelayMs }
            if let multiplier { policy.multiplier = multiplier }
            if let maxDelayMs { policy.maxDelayMilliseconds = maxDelayMs }
            if let maxAttempts { policy.maxAttempts = maxAttempts }
            if let jitter { policy.jitter = jitter }
            if let ackTimeoutMs { policy.ackTimeoutMilliseconds = ackTimeoutMs }
            return policy
        }
    }

    struct Group: Decodable {
        var retry: Retry?
    }

    /// The trace log: which events it records, and how much of it is kept.
    struct Trace: Decodable {
        var sampling: String?
        var maxBytes: Int64?
        var maxAgeS: Int?

        enum CodingKeys: String, CodingKey {
            case sampling
            case maxBytes = "max_bytes"
            case maxAgeS = "max_age_s"
        }
    }

    struct Retention: Decodable {
        var maxAgeS: Int?
        var maxBytes: Int?
        var keepUnconsumed: Bool?

        enum CodingKeys: String, CodingKey {
            case maxAgeS = "max_age_s"
            case maxBytes = "max_bytes"
            case keepUnconsumed = "keep_unconsumed"
        }
    }

    struct Topic: Decodable {
        var fsync: FsyncPolicy?
        var retention: Retention?
        var segmentBytes: Int?

        enum CodingKeys: String, CodingKey {
            case fsync, retention
            case segmentBytes = "segment_bytes"
        }

        func apply(to topic: TopicLogConfiguration) -> TopicLogConfiguration {
            var topic = topic
            if let fsync { topic.fsync = fsync }
            if let segmentBytes { topic.segmentBytes = segmentBytes }
            if let retention {
                if let maxAgeS = retention.maxAgeS { topic.retention.maxAgeSeconds = maxAgeS }
                if let maxBytes = retention.maxBytes { topic.retention.maxBytes = maxBytes }
                if let keep = retention.keepUnconsumed { topic.retention.keepUnconsumed = keep }
            }
            return topic
        }
    }

    var endpoint: String?
    var logLevel: String?
    var heartbeatIntervalMs: UInt32?
    var peerTimeoutMs: UInt32?
    var maxPayloadBytes: Int?
    var maxBatch: Int?
    var maxStoredBytes: Int?
    var storage: String?
    var dataDir: String?
    var fsync: FsyncPolicy?
    var batchWindowUs: Int?
    var segmentBytes: Int?
    var segmentAgeS: Int?
    var retention: Retention?
    var topics: [String: Topic]?
    var defaultMaxInFlight: Int?
    var dedupWindowMs: UInt32?
    var shutdownGraceMs: UInt32?
    var retry: Retry?
    var groups: [String: Group]?
    var groupStateSyncMs: Int?
    var maxTopics: Int?
    var maxGroups: Int?
    var maxScheduledEvents: Int?
    var maxScheduledBytes: Int?
    var security: Security?
    var httpEndpoint: String?
    var trace: Trace?

    /// `security:` — CURVE and who may connect.
    struct Security: Decodable {
        var curveSecretKeyFile: String?
        var credentialsFile: String?
        var insecure: Bool?

        enum CodingKeys: String, CodingKey {
            case insecure
            case curveSecretKeyFile = "curve_secret_key_file"
            case credentialsFile = "credentials_file"
        }
    }

    static func load(path: String) throws -> FileConfiguration {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let decoder = YAMLDecoder()
        do {
            return try decoder.decode(FileConfiguration.self, from: text, userInfo: [:])
        } catch {
            throw ConfigurationError(message: "\(path): \(error)")
        }
    }

    /// The log's settings from this file on top of `log`.
    func apply(to log: inout DurableStoreConfiguration) {
        if let dataDir { log.directory = dataDir }
        if let fsync { log.defaults.fsync = fsync }
        if let batchWindowUs { log.defaults.batchWindowMicros = batchWindowUs }
        if let segmentBytes { log.defaults.segmentBytes = segmentBytes }
        if let segmentAgeS { log.defaults.segmentAgeSeconds = segmentAgeS }
        if let groupStateSyncMs { log.groupStateSyncMilliseconds = groupStateSyncMs }
        if let retention { log.defaults = Topic(fsync: nil, retention: retention, segmentBytes: nil).apply(to: log.defaults) }
        for (name, topic) in topics ?? [:] { log.topics[name] = topic.apply(to: log.defaults) }
    }

    func apply(to configuration: inout BrokerConfiguration) {
        if let endpoint { configuration.endpoint = endpoint }
        if let heartbeatIntervalMs { configuration.heartbeatIntervalMilliseconds = heartbeatIntervalMs }
        if let peerTimeoutMs { configuration.peerTimeoutMilliseconds = peerTimeoutMs }
        if let maxPayloadBytes { configuration.limits.setMaxPayloadBytes(maxPayloadBytes) }
        if let maxTopics { configuration.maxTopics = maxTopics }
        if let maxGroups { configuration.maxGroups = maxGroups }
        if let maxScheduledEvents { configuration.scheduleLimits.maxEvents = maxScheduledEvents }
        if let maxScheduledBytes { configuration.scheduleLimits.maxBytes = maxScheduledBytes }
        if let maxBatch { configuration.limits.maxBatch = maxBatch }
        if let defaultMaxInFlight { configuration.defaultMaxInFlight = defaultMaxInFlight }
        if let dedupWindowMs { configuration.dedupWindowMilliseconds = dedupWindowMs }
        if let shutdownGraceMs { configuration.shutdownGraceMilliseconds = shutdownGraceMs }
        if let retry { configuration.defaultRetryPolicy = retry.apply(to: configuration.defaultRetryPolicy) }
        for (name, group) in groups ?? [:] {
            configuration.groupRetryPolicies[name] =
                group.retry?.apply(to: configuration.defaultRetryPolicy) ?? configuration.defaultRetryPolicy
        }
    }

    enum CodingKeys: String, CodingKey {
        case endpoint, retry, groups
        case logLevel = "log_level"
        case heartbeatIntervalMs = "heartbeat_interval_ms"
        case peerTimeoutMs = "peer_timeout_ms"
        case maxPayloadBytes = "max_payload_bytes"
        case maxBatch = "max_batch"
        case maxStoredBytes = "max_stored_bytes"
        case storage, fsync, retention, topics
        case dataDir = "data_dir"
        case batchWindowUs = "batch_window_us"
        case segmentBytes = "segment_bytes"
        case segmentAgeS = "segment_age_s"
        case defaultMaxInFlight = "default_max_in_flight"
        case dedupWindowMs = "dedup_window_ms"
        case shutdownGraceMs = "shutdown_grace_ms"
        case groupStateSyncMs = "group_state_sync_ms"
        case maxTopics = "max_topics"
        case maxGroups = "max_groups"
        case maxScheduledEvents = "max_scheduled_events"
        case maxScheduledBytes = "max_scheduled_bytes"
        case security
        case httpEndpoint = "http_endpoint"
        case trace
    }
}

extension FileConfiguration.Retry {
    enum CodingKeys: String, CodingKey {
        case multiplier, jitter
        case initialDelayMs = "initial_delay_ms"
        case maxDelayMs = "max_delay_ms"
        case maxAttempts = "max_attempts"
        case ackTimeoutMs = "ack_timeout_ms"
    }
}

/// A configuration file or flag that ferryd cannot use.
struct ConfigurationError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
