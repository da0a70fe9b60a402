import Ferry
import Foundation
import Hummingbird
import Logging
import Testing
import Yams

@testable import FerryHTTP

/// The OpenAPI document (docs/http-api.openapi.yaml) describes exactly the routes served.
@Suite("HTTP API: the OpenAPI document matches the routes")
struct OpenAPITests {
    static var repository: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    @Test("every route the gateway registers is in the document, and every operation in the document is served")
    func routesMatch() throws {
        let text = try String(contentsOf: Self.repository.appendingPathComponent("docs/http-api.openapi.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        let methods: Set<String> = ["get", "post", "put", "delete", "patch", "head", "options"]
        var documented: Set<String> = []
        for (path, item) in paths {
            for method in (item as? [String: Any] ?? [:]).keys where methods.contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let gateway = HTTPGateway(
            clients: BrokerClients(logger: Logger(label: "test")) { _ throws(FerryError) in throw FerryError(.closed, "unused") },
            mode: .open, logger: Logger(label: "test"))
        gateway.addRoutes(to: Router(context: GatewayContext.self))
        let served = Set(
            gateway.apiRoutes.map { route in
                "\(route.method) " + route.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                    .reduce("") { $0 + "/" + $1 }
            })
        #expect(served.count == gateway.apiRoutes.count, "a route is registered twice")
        #expect(served.subtracting(documented).isEmpty, "served, not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented, not served: \(documented.subtracting(served).sorted())")
    }
}
