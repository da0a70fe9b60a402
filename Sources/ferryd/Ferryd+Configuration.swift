import ArgumentParser
import FerryBroker
import FerryLifecycle
import FerryProtocol
import FerryStorage
import Logging

/// How ferryd's options, its configuration file and the defaults combine (options win), and
/// the process set-up that follows from them.
extension Ferryd {
    /// The broker's configuration: the defaults, then the file, then the command line.
    func brokerConfiguration(file: FileConfiguration?) throws -> BrokerConfiguration {
        var configuration = BrokerConfiguration()
        file?.apply(to: &configuration)
        if let endpoint { configuration.endpoint = endpoint }
        if let heartbeatMs { configuration.heartbeatIntervalMilliseconds = heartbeatMs }
        if let peerTimeoutMs { configuration.peerTimeoutMilliseconds = peerTimeoutMs }
        if let maxPayloadBytes { configuration.limits.setMaxPayloadBytes(maxPayloadBytes) }
        if let maxTopics { configuration.maxTopics = maxTopics }
        if let maxGroups { configuration.maxGroups = maxGroups }
        guard configuration.maxTopics > 0, configuration.maxGroups > 0, configuration.limits.maxPayloadBytes > 0 else {
            throw ValidationError("max_topics, max_groups and max_payload_bytes must be positive")
        }
        var log = DurableStoreConfiguration(directory: "ferry-data")
        file?.apply(to: &log)
        if let dataDir { log.directory = dataDir }
        if let fsync {
            log.defaults.fsync = fsync
            for name in log.topics.keys where file?.topics?[name]?.fsync == nil { log.topics[name]?.fsync = fsync }
        }
        if let segmentBytes { log.defaults.segmentBytes = segmentBytes }
        if let groupStateSyncMs { log.groupStateSyncMilliseconds = groupStateSyncMs }
        guard (1...60_000).contains(log.groupStateSyncMilliseconds) else {
            throw ValidationError("group_state_sync_ms must be 1-60000 ms; got \(log.groupStateSyncMilliseconds)")
        }
        switch storage ?? file?.storage ?? "log" {
        case "log": configuration.storage = .log(log)
        case "memory": configuration.storage = .memory(maxBytes: maxStoredBytes ?? file?.maxStoredBytes ?? 1 << 30)
        case let other: throw ValidationError("unknown storage '\(other)': use log or memory")
        }
        if let ackTimeoutMs { configuration.defaultRetryPolicy.ackTimeoutMilliseconds = ackTimeoutMs }
        if let shutdownGraceMs { configuration.shutdownGraceMilliseconds = shutdownGraceMs }
        return configuration
    }

    /// Sends logs to standard error at the configured level.
    func bootstrapLogging(file: FileConfiguration?) throws -> Logger {
        let levelName = logLevel ?? file?.logLevel ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("unknown log level '\(levelName)'")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "ferryd")
    }

    /// Raises the descriptor limit to its hard limit, and says what segment files may hold.
    static func raiseDescriptorLimit(for configuration: BrokerConfiguration, logger: Logger) {
        let descriptors = DescriptorLimit.raiseToHardLimit()
        guard case .log(let log) = configuration.storage else { return }
        let budget = log.maxOpenSegmentFiles ?? max(64, descriptors.soft / 2)
        logger.info(
            "file descriptor limit", metadata: ["limit": "\(descriptors.soft)", "hard": "\(descriptors.hard)", "segmentFiles": "\(budget)"])
        if descriptors.soft < 4096 {
            logger.warning(
                "the file descriptor limit is low for a broker: each connection takes one, each topic one or two; raise it (ulimit -n, LimitNOFILE=)",
                metadata: ["limit": "\(descriptors.soft)"])
        }
    }
}
