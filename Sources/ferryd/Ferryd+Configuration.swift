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
        guard configuration.scheduleLimits.maxEvents >= 0, configuration.scheduleLimits.maxBytes >= 0 else {
            throw ValidationError("max_scheduled_events and max_scheduled_bytes must not be negative")
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
        try applyTrace(file: file?.trace, directory: log.directory, to: &configuration)
        if let ackTimeoutMs { configuration.defaultRetryPolicy.ackTimeoutMilliseconds = ackTimeoutMs }
        if let shutdownGraceMs { configuration.shutdownGraceMilliseconds = shutdownGraceMs }
        return configuration
    }

    /// The trace log: its sampling (flag, then file, then all) and its limits, in `trace/` of the
    /// data directory; none with in-memory storage.
    private func applyTrace(file: FileConfiguration.Trace?, directory: String, to configuration: inout BrokerConfiguration) throws {
        let sampling = trace ?? file?.sampling ?? "all"
        if sampling == "off" {
            configuration.traceSampling = nil
        } else {
            guard let parsed = TraceSampling(sampling) else {
                throw ValidationError("unknown trace sampling '\(sampling)': use all, failures, a fraction from 0 to 1, or off")
            }
            configuration.traceSampling = parsed
        }
        guard case .log = configuration.storage else {
            configuration.traceLog = nil
            return
        }
        var traceLog = TraceLogConfiguration(directory: directory + "/trace")
        if let maxBytes = file?.maxBytes {
            guard maxBytes >= 1 << 20 else { throw ValidationError("trace.max_bytes must be at least 1 MiB; got \(maxBytes)") }
            traceLog.maxBytes = maxBytes
            traceLog.segmentBytes = Int(min(Int64(traceLog.segmentBytes), max(maxBytes / 8, 256 << 10)))
        }
        if let maxAge = file?.maxAgeS {
            guard maxAge > 0 else { throw ValidationError("trace.max_age_s must be positive; got \(maxAge)") }
            traceLog.maxAgeSeconds = maxAge
        }
        configuration.traceLog = traceLog
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
