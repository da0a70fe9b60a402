import FerryTestSupport
import Foundation
import Testing

/// What the command line refuses before it connects, and what its help says.
@Suite("ferry usage: option bounds, options that do nothing, help", .timeLimit(.minutes(2)))
struct UsageTests {
    /// Every one of these must fail as a usage error (64) before connecting: nothing listens on
    /// port 1, so a command that went on to connect would exit 69 instead (or crash).
    @Test(
        "out-of-range numbers and options that would do nothing are usage errors, with the option named",
        arguments: [
            (["history", "order-42", "--limit", "20000"], "--limit must be between 1 and 10000"),
            (["history", "order-42", "--limit", "0"], "--limit must be between 1 and 10000"),
            (["dlq", "list", "email", "--limit", "5000"], "--limit must be between 1 and 1000"),
            (["dlq", "list", "email", "--limit", "0"], "--limit must be between 1 and 1000"),
            (["dlq", "list", "email", "--limit=-3"], "--limit must be between 1 and 1000"),
            (["stats", "--json", "--prometheus"], "give --json or --prometheus"),
            (["bench", "-n", "10", "--max-lag-ms=-5"], "--max-lag-ms must be between 1 and"),
            (["bench", "-n", "10", "--max-lag-ms", "0"], "--max-lag-ms must be between 1 and"),
            (["bench", "peers", "--max-lag-ms=-1"], "--max-lag-ms must be between 1 and"),
            (["bench", "--rate", "1000000000000"], "--rate must be between 1 and"),
            (["bench", "peers", "--rate", "1000000000000000000"], "--rate must be between 1 and"),
            (["bench", "--duration", "nan"], "--duration must be more than 0"),
            (["bench", "--payload", "2000000"], "--payload must be at most"),
            (["bench", "--max-in-flight", "5000000000"], "--max-in-flight between 1 and"),
            (["bench", "--connect-timeout-ms", "99999999999999"], "--connect-timeout-ms must be between 1 and"),
            (["bench", "peers", "--mode", "two words"], "--mode is one field"),
            (["bench", "recovery", "--megabytes", "0"], "--megabytes must be between 1 and"),
            (["bench", "recovery", "--payload=-100"], "--payload must be between 0 and"),
            // Options for a ferryd the bench starts do nothing with a running broker.
            (["bench", "--fsync", "always"], "--fsync would do nothing: --broker names a running broker"),
            (["bench", "peers", "--storage", "memory", "--ferryd", "/bin/true"], "--storage, --ferryd would do nothing"),
            (["bench", "-n", "10", "--spawn"], "give one of them"),
        ])
    func refused(_ arguments: [String], message: String) async throws {
        var line = arguments
        if arguments.starts(with: ["bench", "recovery"]) {
            // recovery loads no broker.
        } else if arguments.first == "bench" {
            line += ["--broker", "tcp://127.0.0.1:1", "--quiet"]
            if !arguments.contains("--connect-timeout-ms") { line += ["--connect-timeout-ms", "500"] }
        } else {
            line += ["--broker", "tcp://127.0.0.1:1", "--timeout", "1"]
        }
        let result = try await CLIProcess.run(line, timeout: .seconds(30))
        #expect(result.status == 64, "\(line): exit \(result.status), \(result.stderr)")
        #expect(result.stderr.contains(message), "\(line): \(result.stderr)")
    }

    @Test("FERRY_BROKER with a spawned ferryd's options asks for --spawn")
    func environmentBrokerWithSpawnOptions() async throws {
        let result = try await CLIProcess.run(
            ["bench", "--fsync", "never", "-n", "10", "--quiet"], environment: ["FERRY_BROKER": "tcp://127.0.0.1:1"], timeout: .seconds(30))
        #expect(result.status == 64, "\(result.stderr)")
        #expect(
            result.stderr.contains("FERRY_BROKER names a running broker, so the bench starts no ferryd (add --spawn to start one)"),
            "\(result.stderr)")
    }

    @Test("--broker's help states its default once, whatever FERRY_BROKER holds")
    func brokerHelpHasOneDefault() async throws {
        for environment in [[:], ["FERRY_BROKER": "tcp://10.0.0.5:7400"]] {
            for command in [["publish"], ["groups"], ["dlq", "list"], ["bench"], ["bench", "peers"]] {
                let help = try await CLIProcess.run(command + ["--help"], environment: environment)
                #expect(help.status == 0)
                let entry = try #require(Self.helpEntry("--broker <endpoint>", in: help.stdout), "\(command): \(help.stdout)")
                #expect(entry.components(separatedBy: "default").count == 2, "\(command) \(environment): \(entry)")
                #expect(!entry.contains("10.0.0.5"), "\(command): the help shows the environment's value: \(entry)")
            }
        }
    }

    @Test("ferry bench --help and ferry help bench show run's options and name the other subcommands")
    func benchHelp() async throws {
        for arguments in [["bench", "--help"], ["bench", "-h"], ["help", "bench"], ["--json", "bench", "--help"]] {
            let help = try await CLIProcess.run(arguments)
            #expect(help.status == 0, "\(arguments): \(help.stderr)")
            for option in ["--publishers", "--rate", "--count", "--duration", "--fsync", "--broker"] {
                #expect(help.stdout.contains(option), "\(arguments) lacks \(option): \(help.stdout)")
            }
            #expect(help.stdout.contains("USAGE: ferry bench [run] [<options>]"), "\(arguments): \(help.stdout)")
            #expect(help.stdout.contains("'peers'") && help.stdout.contains("'recovery'"), "\(arguments): \(help.stdout)")
        }
        // The subcommands keep their own help.
        let peers = try await CLIProcess.run(["bench", "peers", "--help"])
        #expect(peers.stdout.contains("--mode"))
        let recovery = try await CLIProcess.run(["help", "bench", "recovery"])
        #expect(recovery.stdout.contains("--megabytes"))
    }

    /// The lines of `help` from the one starting with `option` to the next option.
    static func helpEntry(_ option: String, in help: String) -> String? {
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(option) }) else { return nil }
        var entry = [lines[start]]
        for line in lines[(start + 1)...] {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("-") { break }
            entry.append(line)
        }
        return entry.joined(separator: "\n")
    }
}
