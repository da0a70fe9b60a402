import ArgumentParser
import FerryStorage
import Foundation

/// `ferry bench recovery`: writes a log of a given size, then measures how long opening
/// (recovering) it takes, every record's CRC checked.
struct BenchRecovery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery", abstract: "Time the recovery of a log of --megabytes (every record's CRC is checked).")

    @Option(help: "Log size to write, in MiB.") var megabytes = 1024
    @Option(help: "Payload bytes per event.") var payload = 100
    @Option(help: "Directory to write in (default: a temporary one, removed afterwards).") var directory: String?

    func validate() throws {
        guard (1...1_048_576).contains(megabytes) else { throw ValidationError("--megabytes must be between 1 and 1048576 (1 TiB)") }
        guard (0...Bench.maxPayloadBytes).contains(payload) else {
            throw ValidationError("--payload must be between 0 and \(Bench.maxPayloadBytes) bytes")
        }
    }

    func run() throws {
        let root = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("ferry-recovery-\(UUID().uuidString)").path
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: root) } }
        var configuration = DurableStoreConfiguration(directory: root)
        configuration.defaults.fsync = .never
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: payload + 40)
        let written = Date()
        do {
            let store = try DurableEventLog(configuration: configuration)
            var index = 0
            while store.storedBytes < megabytes << 20 {
                let batch = (0..<1000).map { offset in
                    NewEvent(
                        key: "key-\((index + offset) % 1000)", timestampMicros: Int64(index + offset), body: body,
                        id: "id-\(index + offset)")
                }
                _ = try store.append(topic: "recovery", events: batch)
                index += 1000
            }
            store.close()
            print("# wrote \(index) events, \(megabytes) MiB in \(String(format: "%.1f", Date().timeIntervalSince(written))) s")
        }
        let opened = Date()
        let store = try DurableEventLog(configuration: configuration)
        let seconds = Date().timeIntervalSince(opened)
        print(
            "recovery \(megabytes)MiB records \(store.recovery.records) seconds \(String(format: "%.2f", seconds)) "
                + "(\(String(format: "%.0f", Double(megabytes) / seconds)) MiB/s)")
        store.close()
    }
}
