import ArgumentParser

/// `ferry`: the operator's and developer's command line for a Ferry broker.
@main
struct FerryCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Publish, tail and inspect events on a Ferry broker, and load-test it.",
        subcommands: [Bench.self])
}
