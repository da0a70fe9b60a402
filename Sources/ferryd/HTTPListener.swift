import FerryBroker
import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// ferryd's HTTP side, next to ZeroMQ: `/metrics` for Prometheus, `/healthz` (the process
/// answers) and `/readyz` (recovered, storing, not stopping) for systemd, containers and
/// Kubernetes probes. It reads the metrics registry and the broker's health snapshot, never the
/// broker's state itself.
enum HTTPListener {
    /// Where the listener binds: `HOST:PORT` (port 0 picks one).
    struct Address: Equatable {
        let host: String
        let port: Int

        init(_ text: String) throws {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
            else {
                throw ConfigurationError(message: "http endpoint '\(text)' must be HOST:PORT, e.g. 127.0.0.1:7480")
            }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw ConfigurationError(message: "http endpoint '\(text)' names no host") }
            self.host = host
            self.port = port
        }

        var isLoopback: Bool { Ferryd.isLoopback("tcp://\(host.contains(":") ? "[\(host)]" : host):\(port)") }
    }

    /// The HTTP service: its routes over `registry` and `health`. Once listening, it writes
    /// `HOST:PORT` (with the real port) to `addressFile` when there is one.
    static func service(
        address: Address, registry: PrometheusCollectorRegistry, health: BrokerHealth, addressFile: String?, logger: Logger
    ) -> some Service {
        let router = Router()
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: registry.emitToString())))
        }
        router.get("healthz") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("readyz") { _, _ -> Response in
            let snapshot = health.snapshot
            var reasons: [String] = []
            if !snapshot.recovered { reasons.append("recovering the store") }
            if let problem = snapshot.storageProblem { reasons.append("refusing publishes: \(problem)") }
            if snapshot.shuttingDown { reasons.append("shutting down") }
            let body = try JSONSerialization.data(withJSONObject: ["ready": snapshot.isReady, "reasons": reasons], options: [.sortedKeys])
            return Response(
                status: snapshot.isReady ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
        return Application(
            router: router, configuration: .init(address: .hostname(address.host, port: address.port), serverName: "ferryd"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                logger.info("HTTP listening", metadata: ["address": "\(address.host):\(port)"])
                if let addressFile { try? "\(address.host):\(port)".write(toFile: addressFile, atomically: true, encoding: .utf8) }
            }, logger: logger)
    }
}
