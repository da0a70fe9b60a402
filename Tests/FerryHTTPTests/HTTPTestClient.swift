import Foundation
import Testing


/// Plain HTTP calls to a ferryd under test.
struct HTTPTestClient {
    let base: String
    var authorization: String?

    struct Reply {
        let status: Int
        let body: Data
        let headers: [String: String]

        var text: String { String(decoding: body, as: UTF8.self) }
        /// The body as a JSON object.
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
        /// `error.code` of a JSON error.
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    init(base: String, authorization: String? = nil) {
        self.base = base
        self.authorization = authorization
    }

    /// Basic authentication as `principal` with `password`.
    func signedIn(as principal: String, password: String) -> HTTPTestClient {
        HTTPTestClient(base: base, authorization: "Basic " + Data("\(principal):\(password)".utf8).base64EncodedString())
    }

    /// Sends a request with curl (Foundation's URLSession on Linux cannot hand back a 401 that
    /// carries `WWW-Authenticate`, which is a reply under test here); follows no redirect and
    /// keeps no cookie.
    func request(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) async throws -> Reply {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("http-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let headerFile = directory.appendingPathComponent("headers").path
        let bodyFile = directory.appendingPathComponent("body").path
        var arguments = ["-s", "-S", "--max-time", "60", "-X", method, "-D", headerFile, "-o", bodyFile, "--path-as-is"]
        var fields = headers
        if let authorization { fields["Authorization"] = authorization }
        for (name, value) in fields { arguments += ["-H", "\(name): \(value)"] }
        if let body {
            let input = directory.appendingPathComponent("input").path
            try body.write(to: URL(fileURLWithPath: input))
            arguments += ["--data-binary", "@" + input]
        }
        arguments.append(base + path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = arguments
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        try #require(status == 0, "curl \(method) \(path) failed with \(status)")
        let head = try String(contentsOfFile: headerFile, encoding: .utf8)
        let lines = head.components(separatedBy: "\r\n")
        let code = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var replyHeaders: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            replyHeaders[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let data = (try? Data(contentsOf: URL(fileURLWithPath: bodyFile))) ?? Data()
        return Reply(status: code, body: data, headers: replyHeaders)
    }

    func get(_ path: String) async throws -> Reply { try await request("GET", path) }

    func post(_ path: String, json: String = "", headers: [String: String] = [:]) async throws -> Reply {
        try await request("POST", path, body: Data(json.utf8), headers: ["Content-Type": "application/json"].merging(headers) { $1 })
    }

    /// Publishes one event; returns its offset.
    func publish(topic: String, payload: String, headers: [String: String] = [:]) async throws -> Reply {
        try await request(
            "POST", "/api/v1/topics/\(topic)/events", body: Data(payload.utf8),
            headers: ["Content-Type": "application/json"].merging(headers) { $1 })
    }

    /// The deliveries of one fetch.
    func fetch(group: String, member: String, query: String) async throws -> [[String: Any]] {
        let reply = try await post("/api/v1/groups/\(group)/members/\(member)/fetch?\(query)")
        #expect(reply.status == 200, "\(reply.text)")
        return reply.json["deliveries"] as? [[String: Any]] ?? []
    }
}
