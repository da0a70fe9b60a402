import FerryBroker
import Ferry
import FerryHTTP
import HTTPTypes
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

    /// The HTTP service: the probes and metrics over `registry` and `health`, and the
    /// gateway's API and console. Once listening, it writes `HOST:PORT` (with the real port) to
    /// `addressFile` when there is one. Off loopback (with security), `/metrics` needs a
    /// principal granted statistics.
    static func service(
        address: Address, registry: PrometheusCollectorRegistry, health: BrokerHealth, gateway: HTTPGateway, addressFile: String?,
        logger: Logger
    ) -> some Service {
        let router = Router(context: GatewayContext.self)
        router.add(middleware: SecurityHeaders())
        router.add(middleware: RequestGuard(loopback: address.isLoopback))
        let metrics = address.isLoopback ? router.group() : router.group().add(middleware: gateway.authenticator)
        metrics.get("metrics") { _, context -> Response in
            if !address.isLoopback {
                // The broker decides: only a principal granted statistics reads the metrics.
                let bus = try await gateway.bus(context)
                do throws(FerryError) { _ = try await bus.stats() } catch { throw APIError(error) }
            }
            return Response(
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
        router.get("favicon.ico") { _, _ in Response(status: .noContent) }
        gateway.addRoutes(to: router)
        return Application(
            router: router, configuration: .init(address: .hostname(address.host, port: address.port), serverName: "ferryd"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                logger.info("HTTP listening", metadata: ["address": "\(address.host):\(port)", "console": "http://\(address.host):\(port)/console"])
                if let addressFile { try? "\(address.host):\(port)".write(toFile: addressFile, atomically: true, encoding: .utf8) }
            }, logger: logger)
    }

    /// Headers every reply carries: no sniffing, no framing by other sites, no referrer leaks.
    /// Errors of the API (an unknown route, a wrong method) come as JSON, as its own do.
    struct SecurityHeaders: RouterMiddleware {
        typealias Context = GatewayContext

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var response: Response
            do {
                response = try await next(request, context)
            } catch let error as HTTPError where request.uri.path.hasPrefix("/api/") {
                let code = error.status == .notFound ? "NOT_FOUND" : "INVALID_ARGUMENT"
                response = try APIError(error.status, code, error.body ?? "no such route: \(request.method) \(request.uri.path)")
                    .response(from: request, context: context)
            } catch let error as any HTTPResponseError {
                response = try error.response(from: request, context: context)
            }
            response.headers[.xContentTypeOptions] = "nosniff"
            response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
            // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with a
            // form, which RequestGuard must refuse.
            response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
            return response
        }
    }
}
