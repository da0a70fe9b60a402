import ArgumentParser
import Ferry
import Foundation
import Logging

/// Options every command takes: where the broker is, how long to wait for it, and the output form.
/// They may also come before the command (``ArgumentOrder``).
struct CLIOptions: ParsableArguments {
    static let defaultEndpoint = "tcp://127.0.0.1:7400"

    // Optional, so that the help states the default once, in words, and does not show whatever
    // FERRY_BROKER holds as if it were built in.
    @Option(
        name: .long,
        help: ArgumentHelp(
            "ferryd's ZeroMQ endpoint (default: $FERRY_BROKER, else \(Self.defaultEndpoint)).", valueName: "endpoint"))
    var broker: String?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for each answer from ferryd.", valueName: "seconds"))
    var timeout: Double = 5

    @Flag(name: .long, help: "Print JSON for scripts instead of tables.")
    var json = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "ferryd's CURVE public key, as text or its certificate file (default: $FERRY_SERVER_KEY, else the config file's).",
            valueName: "key-or-file"))
    var serverKey: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "This client's secret certificate file, from `ferry keygen` (default: $FERRY_CLIENT_KEY_FILE, else the config file's).",
            valueName: "file"))
    var clientKeyFile: String?

    /// CURVE keys from the flags, else the environment, else the configuration file; nil when
    /// none names any.
    func security() throws -> ClientSecurity? {
        var environment = ProcessInfo.processInfo.environment
        if let file = try CLIConfigFile.inEffect.get() {
            if environment["FERRY_SERVER_KEY", default: ""].isEmpty, let key = file.serverKey { environment["FERRY_SERVER_KEY"] = key }
            if environment["FERRY_CLIENT_KEY_FILE", default: ""].isEmpty, let path = file.clientKeyFile {
                environment["FERRY_CLIENT_KEY_FILE"] = path
            }
        }
        if let serverKey { environment["FERRY_SERVER_KEY"] = serverKey }
        if let clientKeyFile { environment["FERRY_CLIENT_KEY_FILE"] = clientKeyFile }
        do {
            return try ClientSecurity.fromEnvironment(environment)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The endpoint in effect: --broker, else FERRY_BROKER (when set and not empty), else the
    /// configuration file's (``CLIConfigFile``), else the default.
    var endpoint: String {
        if let broker { return broker }
        let environment = ProcessInfo.processInfo.environment["FERRY_BROKER"] ?? ""
        if !environment.isEmpty { return environment }
        return (try? CLIConfigFile.inEffect.get())??.broker ?? Self.defaultEndpoint
    }

    func validate() throws {
        _ = try security()
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
        guard endpoint.contains("://") else {
            let source = broker == nil ? "FERRY_BROKER" : "--broker"
            throw ValidationError("\(source) must be a ZeroMQ endpoint such as \(Self.defaultEndpoint), got '\(endpoint)'")
        }
    }

    /// Connects, runs `body` with the bus, and closes it; turns failures into messages on stderr
    /// and the documented exit codes.
    func withBus<T>(_ body: (EventBus) async throws -> T) async throws -> T {
        let broker = endpoint
        var configuration = ClientConfiguration(endpoint: broker, clientName: "ferry-cli")
        configuration.requestTimeout = .milliseconds(Int64(timeout * 1000))
        configuration.security = try security()
        var logger = Logger(label: "ferry")
        logger.logLevel = .critical
        let bus: EventBus
        do {
            bus = try EventBus(configuration: configuration, logger: logger)
        } catch {
            throw CLIFailure(error, broker: broker, timeout: timeout).report()
        }
        do {
            let result = try await body(bus)
            await bus.close()
            return result
        } catch let failure as CLIFailure {
            await bus.close()
            throw failure.report()
        } catch let error as FerryError {
            await bus.close()
            throw CLIFailure(error, broker: broker, timeout: timeout).report()
        } catch {
            await bus.close()
            throw error
        }
    }
}
