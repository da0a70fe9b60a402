import FerryStorage
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Durable log and group state: unusable data directories")
struct DurableOpenErrorTests {
    /// Opening `path` (the log, then the group state, as ferryd does) fails with a `.io`
    /// StorageError whose message names `named`.
    static func expectIOError(opening path: String, naming named: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: StorageError.self, sourceLocation: sourceLocation) {
            let configuration = DurableStoreConfiguration(directory: path)
            let log = try DurableEventLog(configuration: configuration)
            defer { log.close() }
            _ = try DurableGroupStateStore(configuration: configuration)
        }
        #expect(error?.code == .io, sourceLocation: sourceLocation)
        #expect(error?.message.contains(named) == true, "message: \(error?.message ?? "none")", sourceLocation: sourceLocation)
    }

    @Test("an existing regular file as the directory")
    func regularFile() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("not-a-directory")
        #expect(FileManager.default.createFile(atPath: file.path, contents: Data("x".utf8)))
        Self.expectIOError(opening: file.path, naming: file.path)
        Self.expectIOError(opening: file.appendingPathComponent("data").path, naming: file.path)
        #expect(try Data(contentsOf: file) == Data("x".utf8), "the file is left alone")
    }

    @Test("a regular file where the topics directory belongs")
    func topicsIsAFile() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: directory.appendingPathComponent("topics").path, contents: Data()))
        Self.expectIOError(opening: directory.path, naming: directory.path)
    }

    @Test("a directory where groups.sqlite belongs")
    func databaseIsADirectory() throws {
        let directory = makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let database = directory.appendingPathComponent("groups.sqlite")
        try FileManager.default.createDirectory(at: database, withIntermediateDirectories: true)
        Self.expectIOError(opening: directory.path, naming: database.path)
    }

    @Test("a path under a read-only parent", .enabled(if: getuid() != 0, "root ignores file modes"))
    func readOnlyParent() throws {
        let parent = makeTemporaryDirectory()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: parent.path)
        defer {
            try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: parent.path)
            removeTemporaryDirectory(parent)
        }
        let path = parent.appendingPathComponent("data").path
        Self.expectIOError(opening: path, naming: path)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("a read-only data directory that already exists", .enabled(if: getuid() != 0, "root ignores file modes"))
    func readOnlyDirectory() throws {
        let directory = makeTemporaryDirectory()
        let topics = directory.appendingPathComponent("topics")
        try FileManager.default.createDirectory(at: topics, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: topics.path)
        defer {
            try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: topics.path)
            removeTemporaryDirectory(directory)
        }
        Self.expectIOError(opening: directory.path, naming: directory.path)
    }

    @Test(
        "a path the kernel refuses to create even for root (under /proc)",
        .enabled(if: FileManager.default.fileExists(atPath: "/proc/self")))
    func underProc() {
        let path = "/proc/ferry-storage-tests-\(UUID().uuidString)/data"
        Self.expectIOError(opening: path, naming: path)
    }
}
