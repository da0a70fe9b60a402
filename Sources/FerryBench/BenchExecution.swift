import ArgumentParser
import Foundation
import ZeroMQ

/// Runs a plan against the chosen broker and turns failures into messages and exit codes.
enum BenchExecution {
    static func run(plan: LoadPlan, broker options: BrokerOptions, quiet: Bool) throws -> LoadReport {
        do {
            let target = try BrokerTarget(options)
            defer { target.close() }
            let cpuBefore = target.cpuSeconds
            var run = LoadRun(plan: plan, endpoint: target.endpoint, progress: ProgressLine.make(quiet: quiet))
            run.curve = target.curve
            let outcomes = try run.run()
            let broker = LoadReport.Broker(
                endpoint: target.endpoint, started: target.process != nil,
                fsync: target.process != nil ? options.fsyncPolicy : nil, storage: target.process != nil ? options.storageKind : nil,
                peakResidentMegabytes: target.peakResidentMegabytes,
                cpuSeconds: target.cpuSeconds.map { $0 - (cpuBefore ?? 0) }, curve: target.curve != nil)
            return LoadReport(plan: plan, broker: broker, outcomes: outcomes)
        } catch let error as BenchError {
            FileHandle.standardError.write(Data("ferry bench: error: \(error)\n".utf8))
            throw exitCode(for: error.code)
        } catch let error as ZMQError {
            FileHandle.standardError.write(Data("ferry bench: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func exitCode(for code: BenchError.Code) -> ExitCode {
        switch code {
        case .brokerUnreachable, .ferrydFailed: ExitCode(69)
        case .brokerError, .stalled: ExitCode(1)
        case .interrupted: ExitCode(130)
        }
    }

    /// Exits 3 when a fixed rate was not sustained, 1 when the run is incomplete.
    static func exit(for report: LoadReport) throws {
        if report.fixedRate?.notSustained == true { throw ExitCode(3) }
        if !report.complete { throw ExitCode(1) }
    }
}

/// How a bench command reports: `--json` for scripts, `--quiet` for no progress line.
struct BenchOutputOptions: ParsableArguments {
    @Flag(help: "Print the result as a JSON document on stdout.")
    var json = false
    @Flag(name: .shortAndLong, help: "No live progress line (it is drawn only when stderr is a terminal).")
    var quiet = false
}
