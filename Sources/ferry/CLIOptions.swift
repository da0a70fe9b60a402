import ArgumentParser
import Ferry
import Foundation
import Logging

/// Options every command takes: where the broker is, how long to wait for it, and the output form.
struct CLIOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("ferryd's ZeroMQ endpoint (env FERRY_BROKER).", valueName: "endpoint"))
    var broker: String = ProcessInfo.processInfo.environment["FERRY_BROKER"] ?? "tcp://127.0.0.1:7400"

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for each answer from ferryd.", valueName: "seconds"))
    var timeout: Double = 5

    @Flag(name: .long, help: "Print JSON for scripts instead of tables.")
    var json = false

    func validate() throws {
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
        guard broker.contains("://") else { throw ValidationError("--broker must be a ZeroMQ endpoint such as tcp://127.0.0.1:7400") }
    }

    /// Connects, runs `body` with the bus, and closes it; turns failures into messages on stderr
    /// and the documented exit codes.
    func withBus<T>(_ body: (EventBus) async throws -> T) async throws -> T {
        var configuration = ClientConfiguration(endpoint: broker, clientName: "ferry-cli")
        configuration.requestTimeout = .milliseconds(Int64(timeout * 1000))
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
