public import ArgumentParser
import Foundation

/// The one option of the workers' read-only report commands (`stock`, `payments`, `status`,
/// `list`, `show`, `report`): the data directory of the worker whose state they print. They
/// never create anything: a database that is not there is an error, not an empty report.
public struct ReportOptions: ParsableArguments, Sendable {
    @Option(help: "The worker's data directory (the --data-dir it runs with).")
    public var dataDir: String = "./order-system-data"

    public init() {}

    /// The path of the existing database `name` in the data directory.
    public func existingDatabase(_ name: String) throws(ReportError) -> String {
        let path = URL(fileURLWithPath: dataDir).appendingPathComponent(name).path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dataDir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReportError(code: "no_data_dir", message: "no data directory at \(dataDir) (pass the worker's --data-dir)")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw ReportError(code: "no_database", message: "no \(name) in \(dataDir): has this worker run with --data-dir \(dataDir)?")
        }
        return path
    }
}

/// A report command cannot print its report; the command exits non-zero with this message.
public struct ReportError: Error, CustomStringConvertible, Sendable {
    public let code: String
    public let message: String
    public var description: String { message }
}
