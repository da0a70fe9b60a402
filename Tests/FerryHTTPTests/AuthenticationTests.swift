import FerryTestSupport
import Foundation
import HummingbirdBcrypt
import Testing

/// With security, every HTTP request acts as a principal that signed in, and the broker
/// authorizes it with that principal's grants.
@Suite("HTTP API: principals sign in; grants apply")
struct AuthenticationTests {
    static let operatorRules = """
        http_passwords: ["\(Bcrypt.hash("op-secret", cost: 4))"]
        allow:
          publish: [">"]
          subscribe: { topics: [">"], groups: [">"] }
          admin: { groups: [">"], history: true, stats: true }
        """
    static let viewerRules = """
        http_passwords: ["\(Bcrypt.hash("view-secret", cost: 4))"]
        allow:
          admin: { stats: true }
        """

    static func start() async throws -> (Ferryd, TestCredentials, HTTPTestClient) {
        let credentials = try TestCredentials([
            try .init("operator", rules: operatorRules), try .init("viewer", rules: viewerRules),
        ])
        let ferryd = try await Ferryd(["--storage", "memory"] + credentials.ferrydArguments)
        let base = try #require(await ferryd.httpBase())
        return (ferryd, credentials, HTTPTestClient(base: base))
    }

    @Test("no credentials or wrong ones: 401; a principal's grants decide; events carry the publishing principal")
    func signIn() async throws {
        let (ferryd, credentials, anonymous) = try await Self.start()
        let refused = try await anonymous.get("/api/v1/topics")
        #expect(refused.status == 401 && refused.errorCode == "UNAUTHENTICATED")
        #expect(refused.headers["www-authenticate"]?.hasPrefix("Basic") == true)
        #expect(try await anonymous.signedIn(as: "operator", password: "wrong").get("/api/v1/topics").status == 401)
        #expect(try await anonymous.signedIn(as: "nobody", password: "op-secret").get("/api/v1/topics").status == 401)
        #expect(try await anonymous.get("/metrics").status == 200, "metrics stay open on loopback")

        let operatorClient = anonymous.signedIn(as: "operator", password: "op-secret")
        let viewer = anonymous.signedIn(as: "viewer", password: "view-secret")
        #expect(try await operatorClient.get("/api/v1/whoami").json["principal"] as? String == "operator")
        _ = try await operatorClient.fetch(group: "audit", member: "a1", query: "topics=secure.events&wait=0")
        let published = try await operatorClient.publish(topic: "secure.events", payload: #"{"ok":true}"#)
        #expect(published.status == 201, "\(published.text)")
        let forbidden = try await viewer.publish(topic: "secure.events", payload: "{}")
        #expect(forbidden.status == 403 && forbidden.errorCode == "FORBIDDEN", "\(forbidden.text)")
        #expect(try await viewer.get("/api/v1/groups").status == 200, "statistics are granted")
        #expect(try await viewer.post("/api/v1/groups/audit/dead-letters/purge", json: #"{"all": true}"#).status == 403)

        let bearer = HTTPTestClient(base: anonymous.base, authorization: "Bearer operator:op-secret")
        let deliveries = try await bearer.fetch(group: "audit", member: "a1", query: "wait=5")
        #expect((deliveries.first?["event"] as? [String: Any])?["publisher"] as? String == "operator")
        withExtendedLifetime((ferryd, credentials)) {}
    }

    @Test("the console: sign-in page, a session cookie for a good password, refusal of a bad one or of a form without its token")
    func consoleSignIn() async throws {
        let (ferryd, credentials, http) = try await Self.start()
        let page = try await http.get("/console")
        #expect(page.status == 303 && page.headers["location"] == "/console/login")
        let login = try await http.get("/console/login")
        let csrf = try #require(login.headers["set-cookie"]?.split(separator: ";").first?.split(separator: "=").last.map(String.init))
        func signIn(_ password: String, token: String) async throws -> HTTPTestClient.Reply {
            try await http.request(
                "POST", "/console/login", body: Data("csrf=\(token)&principal=operator&password=\(password)".utf8),
                headers: ["Content-Type": "application/x-www-form-urlencoded", "Cookie": "ferry_csrf=\(csrf)"])
        }
        #expect(try await signIn("op-secret", token: "forged").status == 403)
        #expect(try await signIn("wrong", token: csrf).status == 401)
        let good = try await signIn("op-secret", token: csrf)
        #expect(good.status == 303)
        let session = try #require(good.headers["set-cookie"]?.split(separator: ";").first.map(String.init))
        #expect(session.hasPrefix("ferry_session="))
        let overview = try await http.request("GET", "/console", headers: ["Cookie": session])
        #expect(overview.status == 200 && overview.text.contains("operator"))
        withExtendedLifetime((ferryd, credentials)) {}
    }
}
