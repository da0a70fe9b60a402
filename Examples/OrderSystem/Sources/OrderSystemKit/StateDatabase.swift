public import Foundation
public import GRDB

/// Opens a process's SQLite database (WAL, so readers never wait for the writer) and brings
/// its schema up to date.
public enum StateDatabase {
    public static func open(path: String, migrations: (inout DatabaseMigrator) -> Void) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let pool = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrations(&migrator)
        try migrator.migrate(pool)
        return pool
    }
}
