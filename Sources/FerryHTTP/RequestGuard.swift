public import Hummingbird
import HTTPTypes

/// Refuses what a browser can be tricked into sending: a state-changing request from a page
/// of another origin (its `Origin` does not name this host), and, on a loopback listener, any
/// request whose `Host` is not a loopback name (a DNS-rebinding page that resolves its own name
/// to 127.0.0.1). Tools such as curl send no `Origin` and are not affected.
public struct RequestGuard: RouterMiddleware {
    public typealias Context = GatewayContext

    let loopback: Bool

    public init(loopback: Bool) {
        self.loopback = loopback
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let host = request.head.authority ?? ""
        if loopback, !Self.isLoopbackHost(host) {
            throw APIError(.forbidden, "FORBIDDEN", "this listener answers requests for 127.0.0.1, localhost or [::1] only, not '\(host.prefix(100))'")
        }
        if request.method != .get, request.method != .head, let origin = request.headers[.origin], origin != "http://" + host, origin != "https://" + host {
            throw APIError(.forbidden, "FORBIDDEN", "a request from another origin ('\(origin.prefix(100))') may not change anything here")
        }
        return try await next(request, context)
    }

    /// Whether `host` (a `Host` value or an endpoint's host, with or without a port, an IPv6
    /// address in brackets) names this machine: `localhost`, `::1` or 127.0.0.0/8.
    public static func isLoopbackHost(_ host: String) -> Bool {
        var name = host
        if name.hasPrefix("["), let close = name.firstIndex(of: "]") {
            name = String(name[name.index(after: name.startIndex)..<close])
        } else if let colon = name.lastIndex(of: ":") {
            name = String(name[..<colon])
        }
        if name == "localhost" || name == "::1" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
