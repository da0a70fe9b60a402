import ArgumentParser

/// `ferry bench`: the load generator (placeholder until the bench lands).
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Load-test ferryd.")
}
