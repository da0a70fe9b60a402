import FerryTestSupport
import Foundation
import Testing

@Suite("ferry's global options before or after the command", .serialized, .timeLimit(.minutes(2)))
struct GlobalOptionsTests {
    @Test("--broker, --timeout and --json work before the command as after it, nested commands and bench included")
    func beforeTheCommand() async throws {
        let fixture = try await CLIFixture(["--storage", "memory"])
        let endpoint = fixture.ferryd.endpoint

        let published = try await CLIProcess.run(["--broker", endpoint, "--json", "publish", "orders.created", "{}", "--key", "k-1"])
        #expect(published.status == 0, "\(published.stderr)")
        #expect((try published.json() as? [String: Any])?.int("offset") == 0)
        let after = try await CLIProcess.run(["publish", "orders.created", "{}", "--key", "k-1", "--broker", endpoint, "--json"])
        #expect(after.status == 0, "\(after.stderr)")
        #expect((try after.json() as? [String: Any])?.int("offset") == 1)

        // `--broker=…`, --timeout, and the options split around the command.
        let history = try await CLIProcess.run(["--broker=\(endpoint)", "--timeout", "3", "history", "k-1", "--json"])
        #expect(history.status == 0, "\(history.stderr)")
        #expect((try history.json() as? [[String: Any]])?.count == 2)

        // Between and after nested command names: dlq list reaches ferryd, which knows no such group.
        for arguments in [["--broker", endpoint, "dlq", "list", "nope"], ["dlq", "--broker", endpoint, "list", "nope"]] {
            let result = try await CLIProcess.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("no consumer group named 'nope'"), "\(arguments): \(result.stderr)")
        }

        // The last of two values wins, as for an option given twice after the command.
        let twice = try await CLIProcess.run(["--broker", "tcp://127.0.0.1:1", "stats", "--json", "--broker", endpoint])
        #expect(twice.status == 0, "\(twice.stderr)")

        // bench's own --broker and --json: it loads the running ferryd, and prints JSON.
        let bench = try await CLIProcess.run(
            ["--broker", endpoint, "--json", "bench", "-n", "200", "--quiet"], timeout: .seconds(60))
        #expect(bench.status == 0, "\(bench.stderr)")
        let report = try #require(try bench.json() as? [String: Any])
        let broker = try #require(report["broker"] as? [String: Any])
        #expect(broker["started"] as? Bool == false)
        #expect(broker["endpoint"] as? String == endpoint)
    }

    @Test("--timeout before the command applies: an unreachable broker is given up on within it")
    func timeoutBeforeTheCommand() async throws {
        let result = try await CLIProcess.run(["--timeout", "1", "--broker", "tcp://127.0.0.1:1", "groups"], timeout: .seconds(10))
        #expect(result.status == 69, "\(result.stderr)")
        #expect(result.stderr.contains("ferryd at tcp://127.0.0.1:1 did not answer within 1 s"), "\(result.stderr)")
    }

    @Test(
        "global options without a command, or with an unknown one, are usage errors that say so",
        arguments: [
            (["--broker", "tcp://127.0.0.1:1"], "name a command"), (["--json", "pubish"], "'pubish' is not a ferry command"),
            (["--broker"], "missing value for '--broker'"),
        ])
    func withoutACommand(_ arguments: [String], message: String) async throws {
        let result = try await CLIProcess.run(arguments)
        #expect(result.status == 64)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test("the root help shows that global options go before or after the command")
    func rootHelp() async throws {
        let help = try await CLIProcess.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: ferry [--broker <endpoint>] [--timeout <seconds>] [--json] <subcommand>"), "\(help.stdout)")
        // The help is wrapped to the terminal's width.
        let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains("These global options go before the command or after it"), "\(help.stdout)")
        // A help flag after global options is still help.
        let afterOptions = try await CLIProcess.run(["--json", "--help"])
        #expect(afterOptions.status == 0)
        #expect(afterOptions.stdout == help.stdout)
    }
}
