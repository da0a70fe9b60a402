import ArgumentParser

/// Puts the command line in the order swift-argument-parser reads, before it is parsed.
///
/// The global options (--broker, --timeout, --json) belong to each command (``CLIOptions``, and
/// bench's own --broker and --json), and the parser reads a command's options only after its
/// name; people type them first too (`ferry --broker X groups`). Declaring them on the root
/// command instead would not do: the parser lets a parent's options appear anywhere in the
/// line, so the root would take them from every command, bench's included. So the global
/// options found before and between the command names are moved to just after the last one:
/// `ferry --broker X dlq list email` is parsed as `ferry dlq list --broker X email`. An option
/// given twice keeps its last value, as the parser does.
///
/// Also, `ferry bench --help` (and `ferry help bench`) shows the help of `run`, the default
/// subcommand, whose options `ferry bench -n 1000` takes, rather than only the subcommand list.
enum ArgumentOrder {
    /// The options that may come before the command, and whether each takes a value.
    static let globalOptions: [String: Bool] = [
        "--broker": true, "--timeout": true, "--json": false, "--server-key": true, "--client-key-file": true,
    ]

    /// The root command's usage line.
    static let usage = "ferry [--broker <endpoint>] [--timeout <seconds>] [--json] <subcommand> [<arguments>]"

    static let helpFlags: Set<String> = ["-h", "--help", "-help"]

    /// `arguments` (without the program name) reordered for `root`; throws a usage error for
    /// global options that are not followed by a command.
    static func normalized(_ arguments: [String], root: any ParsableCommand.Type = FerryCLI.self) throws -> [String] {
        if arguments.first == "help" { return helpForDefaultSubcommand(Array(arguments.dropFirst()), root: root) ?? arguments }
        var moved: [String] = []
        var path: [String] = []
        var command = root
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let name = argument.hasPrefix("--") ? String(argument.prefix { $0 != "=" }) : argument
            if let takesValue = globalOptions[name] {
                let count = takesValue && name == argument ? 2 : 1
                guard index + count <= arguments.count else { throw ValidationError("missing value for '\(argument)'") }
                moved += arguments[index..<index + count]
                index += count
            } else if let subcommand = subcommand(of: command, named: argument) {
                path.append(argument)
                command = subcommand
                index += 1
            } else {
                break
            }
        }
        var rest = Array(arguments[index...])
        if let defaultSubcommand = command.configuration.defaultSubcommand, !rest.isEmpty, rest.allSatisfy(helpFlags.contains) {
            path.append(defaultSubcommand._commandName)
        }
        if moved.isEmpty { return path + rest }
        if path.isEmpty {
            if rest.contains(where: helpFlags.contains) { return arguments }
            guard let first = rest.first else { throw ValidationError("name a command after the global options: \(usage)") }
            throw ValidationError("'\(first)' is not a ferry command; see 'ferry --help'")
        }
        rest.insert(contentsOf: moved, at: 0)
        return path + rest
    }

    /// `ferry help bench [run]`-style requests for a command with a default subcommand, as
    /// `bench run --help`; nil for any other.
    private static func helpForDefaultSubcommand(_ names: [String], root: any ParsableCommand.Type) -> [String]? {
        var command = root
        for name in names {
            guard let subcommand = subcommand(of: command, named: name) else { return nil }
            command = subcommand
        }
        guard let defaultSubcommand = command.configuration.defaultSubcommand else { return nil }
        return names + [defaultSubcommand._commandName, "--help"]
    }

    private static func subcommand(of command: any ParsableCommand.Type, named name: String) -> (any ParsableCommand.Type)? {
        command.configuration.subcommands.first { $0._commandName == name || $0.configuration.aliases.contains(name) }
    }
}
