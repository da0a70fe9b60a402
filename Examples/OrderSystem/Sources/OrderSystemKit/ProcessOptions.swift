public import ArgumentParser
public import Ferry
public import Foundation
public import Logging
import OrderEvents

/// The options every order-system process shares: where ferryd is and the CURVE keys it is
/// reached with, where the process keeps its state, and how much it logs.
public struct ProcessOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("broker"), help: "ferryd's endpoint (default: $FERRY_BROKER, else tcp://127.0.0.1:7400).")
    var brokerOption: String?

    /// ferryd's endpoint: `--broker`, else `$FERRY_BROKER` (when set and not empty), else the default.
    public var broker: String {
        if let brokerOption { return brokerOption }
        if let environment = ProcessInfo.processInfo.environment["FERRY_BROKER"], !environment.isEmpty { return environment }
        return "tcp://127.0.0.1:7400"
    }

    @Option(
        name: .customLong("server-key"),
        help: ArgumentHelp(
            "ferryd's public key for CURVE: 40 Z85 characters or the path of its public certificate (ferryd.key).",
            discussion: "Default: $FERRY_SERVER_KEY. With neither this nor --client-key-file the connection is plain.",
            valueName: "key|file"))
    var serverKeyOption: String?

    @Option(
        name: .customLong("client-key-file"),
        help: ArgumentHelp(
            "This process's secret certificate (NAME.key_secret, as `ferry keygen` writes it) for CURVE.",
            discussion: "Default: $FERRY_CLIENT_KEY_FILE. Its public key names the process's principal in ferryd's credentials.",
            valueName: "file"))
    var clientKeyFileOption: String?

    @Option(help: "Directory for this process's state (its SQLite database, files).")
    public var dataDir: String = "./order-system-data"

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    public var logLevel: String = "info"

    @Flag(help: "Shut down gracefully once the process that started this one has exited (for launchers and test harnesses).")
    public var exitWithParent = false

    public init() {}

    /// The client configuration for ferryd, named after this process, with CURVE keys when
    /// they are given (``security()``); throws ``KeyError`` when they cannot be used.
    public func clientConfiguration(name: String) throws(KeyError) -> ClientConfiguration {
        var configuration = ClientConfiguration(endpoint: broker, clientName: name)
        configuration.security = try security()
        configuration.upcasters = OrderSystemUpcasters.all
        return configuration
    }

    /// The CURVE keys this process connects with: `--server-key` and `--client-key-file`, each
    /// defaulting to its environment variable (`FERRY_SERVER_KEY`, `FERRY_CLIENT_KEY_FILE`, read
    /// by ``ClientSecurity/fromEnvironment(_:)``); nil when neither is given (a plain connection).
    /// Throws ``KeyError`` naming where the keys came from when only one is given, a file is
    /// missing or unreadable, or a key is not a key.
    public func security() throws(KeyError) -> ClientSecurity? {
        var environment = ProcessInfo.processInfo.environment
        if let serverKeyOption { environment["FERRY_SERVER_KEY"] = serverKeyOption }
        if let clientKeyFileOption { environment["FERRY_CLIENT_KEY_FILE"] = clientKeyFileOption }
        let server = serverKeyOption != nil ? "--server-key" : "FERRY_SERVER_KEY"
        let client = clientKeyFileOption != nil ? "--client-key-file" : "FERRY_CLIENT_KEY_FILE"
        switch (environment["FERRY_SERVER_KEY"] ?? "", environment["FERRY_CLIENT_KEY_FILE"] ?? "") {
        case ("", ""): return nil
        case ("", _): throw KeyError(message: "\(client) is given but not ferryd's public key (--server-key or FERRY_SERVER_KEY)")
        case (_, ""): throw KeyError(message: "\(server) is given but not this process's key (--client-key-file or FERRY_CLIENT_KEY_FILE)")
        default: break
        }
        do {
            return try ClientSecurity.fromEnvironment(environment)
        } catch {
            throw KeyError(message: "cannot use the CURVE keys of \(server) and \(client): \(error.message)")
        }
    }

    /// Creates the data directory and returns the path of `name` inside it.
    public func path(_ name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        return URL(fileURLWithPath: dataDir).appendingPathComponent(name).path
    }

    /// Sets up logging to stderr at the chosen level and returns the process's logger.
    public func bootstrapLogging(label: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

/// CURVE keys given to a process that it cannot use; the process exits with this message.
public struct KeyError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// How a worker's handler groups retry, settable from the command line so tests and demos can
/// use short delays.
public struct RetryArguments: ParsableArguments, Sendable {
    @Option(help: "Delay before the first retry, in milliseconds.") public var retryInitialMs = 500
    @Option(help: "Backoff multiplier between retries.") public var retryMultiplier = 2.0
    @Option(help: "Longest delay between retries, in milliseconds.") public var retryMaxMs = 30_000
    @Option(help: "Deliveries of one event before it goes to the dead-letter queue.") public var maxAttempts = 5

    public init() {}

    /// The group options with this retry policy.
    public var groupOptions: HandlerGroupOptions {
        var options = HandlerGroupOptions()
        options.retry = RetryOptions(
            initialDelay: .milliseconds(retryInitialMs), multiplier: retryMultiplier, maxDelay: .milliseconds(retryMaxMs),
            maxAttempts: maxAttempts)
        return options
    }
}

/// Transient failures on purpose, to show (and test) retries with backoff.
public struct FaultArguments: ParsableArguments, Sendable {
    @Option(help: "Probability (0…1) that a handler attempt fails before doing anything, as a flaky dependency would.")
    public var failRate = 0.0
    @Flag(help: "Fail the first attempt of every refund, as a gateway that times out once would (the demo's saga shows the retry).")
    public var failFirstRefundAttempt = false

    public init() {}

    /// Throws a transient error with probability ``failRate``.
    public func maybeFail(_ what: String) throws {
        if failRate > 0, Double.random(in: 0..<1) < failRate {
            throw TransientFailure(message: "\(what): simulated transient failure")
        }
    }
}

/// A failure worth retrying (a dependency that is down for a moment).
public struct TransientFailure: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
