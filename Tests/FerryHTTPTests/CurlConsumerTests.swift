import FerryTestSupport
import Foundation
import Testing

/// The documented shell consumer (docs/examples/curl-consumer.sh: bash, curl and jq) is a
/// working member: it handles every event once and leaves the group settled.
@Suite("HTTP API: a curl loop is a consumer")
struct CurlConsumerTests {
    @Test("curl-consumer.sh acks every published event and leaves nothing in flight")
    func curlLoop() async throws {
        let (ferryd, http) = try await PublishConsumeTests.start()
        for index in 0..<12 {
            #expect(try await http.publish(topic: "shell.orders", payload: #"{"n":\#(index)}"#, headers: ["Ferry-Event-Id": "order-\(index)"]).status == 201)
        }
        let script = OpenAPITests.repository.appendingPathComponent("docs/examples/curl-consumer.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, http.base, "shell", "sh-1", "shell.orders", "12"]
        process.environment = ["PATH": "/usr/bin:/bin", "MAX": "5", "WAIT": "2"]
        // Output to a file, not a pipe: a child another test starts meanwhile may inherit a
        // pipe's write end, and a read to its end would then never return.
        let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("curl-consumer-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outputURL) }
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        let handled = String(decoding: try Data(contentsOf: outputURL), as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(status == 0)
        #expect(handled == (0..<12).map { "order-\($0)" })
        let group = try await http.get("/api/v1/groups/shell").json
        #expect(group["acked"] as? Int == 12 && group["in_flight"] as? Int == 0 && group["lag"] as? Int == 0, "\(group)")
        withExtendedLifetime(ferryd) {}
    }
}
