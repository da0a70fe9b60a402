import FerryProtocol
import FerryTestSupport
import Foundation
import Testing
import ZeroMQ

/// Who gets in: plaintext, wrong server keys and unknown client keys never get a session;
/// keys removed from the credentials lose theirs within seconds; reloads take effect without a
/// restart; and the others are served throughout.
@Suite("Authentication: only known client keys get a session, and reloads take effect live", .serialized)
struct SecurityAuthenticationTests {
    static let reader = """
        allow:
          subscribe: { topics: ["orders.>"], groups: ["email"] }
        """
    static let writer = """
        allow:
          publish: ["orders.>"]
          admin: { history: true, stats: true }
        """

    /// A CURVE ferryd whose credentials hold a reader and a writer.
    static func start() async throws -> (
        reader: TestCredentials.Principal, writer: TestCredentials.Principal, credentials: TestCredentials, ferryd: Ferryd
    ) {
        let reader = try TestCredentials.Principal("reader", rules: Self.reader)
        let writer = try TestCredentials.Principal("writer", rules: Self.writer)
        let credentials = try TestCredentials([reader, writer])
        return (reader, writer, credentials, try await Ferryd(credentials.ferrydArguments))
    }

    /// Hello, answered with Welcome within `timeout`?
    static func greets(_ client: RawClient, timeout: Duration = .seconds(2)) throws -> Bool {
        try client.send(.hello(Hello()))
        if case .welcome? = try client.receive(timeout: timeout)?.reply { return true }
        return false
    }

    @Test("a plaintext client, a wrong server key and an unknown client key get no answer; a known key is served")
    func strangers() async throws {
        let (reader, writer, credentials, ferryd) = try await Self.start()
        try await onOwnThread {
            let plaintext = try RawClient(endpoint: ferryd.endpoint)
            #expect(try !Self.greets(plaintext, timeout: .milliseconds(1500)))
            let wrongServer = try RawClient(endpoint: ferryd.endpoint, curve: (try CurveKeyPair.generate().publicKey, reader.keys))
            #expect(try !Self.greets(wrongServer, timeout: .milliseconds(1500)))
            let unknown = try RawClient(endpoint: ferryd.endpoint, curve: (credentials.server.publicKey, try CurveKeyPair.generate()))
            #expect(try !Self.greets(unknown, timeout: .milliseconds(1500)))

            // A known key under a routing id short enough to guess is refused, and told why.
            let guessable = try RawClient(
                endpoint: ferryd.endpoint, curve: (credentials.server.publicKey, writer.keys), routingID: [0, 0, 0, 0, 7])
            try guessable.send(.hello(Hello()))
            guard case .error(let refusal)? = try guessable.receive()?.reply else {
                Issue.record("expected UNAUTHENTICATED for a short routing id")
                return
            }
            #expect(refusal.code == .unauthenticated && refusal.message.contains("routing id"))

            let known = try credentials.client(of: ferryd, as: writer)
            #expect(try Self.greets(known))
            let stats = try known.stats()
            #expect(stats.prometheusText.contains(#"ferry_auth_refusals_total{principal="unknown",reason="unknown_key"}"#))
        }
    }

    @Test("a key removed from the credentials file loses its live session within seconds; others keep theirs")
    func revokedKey() async throws {
        let (reader, writer, credentials, ferryd) = try await Self.start()
        try await onOwnThread {
            let member = try credentials.client(of: ferryd, as: reader)
            #expect(try Self.greets(member))
            var subscribe = Subscribe()
            subscribe.group = "email"
            subscribe.patterns = ["orders.created"]
            let subscribed = try member.subscribe(.subscribe(subscribe))
            let other = try credentials.client(of: ferryd, as: writer)
            #expect(try Self.greets(other))

            try credentials.write([writer])
            // The file change is noticed within about a second: the subscription ends, then the
            // session, each with a notice.
            let ended = try member.receive(timeout: .seconds(10))
            guard case .subscriptionEnded(let endedSubscription)? = ended?.reply else {
                Issue.record("expected SubscriptionEnded, got \(String(describing: ended))")
                return
            }
            #expect(endedSubscription.subscriptionID == subscribed.subscriptionID && endedSubscription.code == .unauthenticated)
            let notice = try member.receive(timeout: .seconds(5))
            guard case .error(let error)? = notice?.reply else {
                Issue.record("expected UNAUTHENTICATED, got \(String(describing: notice))")
                return
            }
            #expect(error.code == .unauthenticated && notice?.requestID == 0)
            // Every later command of that connection is refused.
            try member.send(.hello(Hello()))
            guard case .error(let refusal)? = try member.receive(timeout: .seconds(5))?.reply else {
                Issue.record("expected a refusal of the Hello")
                return
            }
            #expect(refusal.code == .unauthenticated)
            // A new connection with the key is refused at the handshake.
            #expect(try !Self.greets(try credentials.client(of: ferryd, as: reader), timeout: .milliseconds(1500)))
            // The group lost its member; the other principal is served as before.
            let stats = try other.stats()
            #expect(stats.groups.first(where: { $0.name == "email" })?.members == 0)
            #expect(stats.prometheusText.contains(#"ferry_auth_refusals_total{principal="unknown",reason="revoked"}"#))
        }
    }

    @Test("SIGHUP reloads the credentials: a new grant takes effect, a revoked one ends the subscription")
    func reloadOnSIGHUP() async throws {
        let (reader, writer, credentials, ferryd) = try await Self.start()
        try await onOwnThread {
            let publisher = try credentials.client(of: ferryd, as: writer)
            func publishCode(_ topic: String) throws -> ErrorCode? {
                try publisher.publish(topic: topic, id: UUID().uuidString)
                guard case .publishResult(let result)? = try publisher.receive()?.reply else { return .unspecified }
                return result.rejected.first?.code
            }
            #expect(try publishCode("payments.captured") == .forbidden)
            let member = try credentials.client(of: ferryd, as: reader)
            var subscribe = Subscribe()
            subscribe.group = "email"
            subscribe.patterns = ["orders.created"]
            let subscribed = try member.subscribe(.subscribe(subscribe))

            // The same file size, inode and modification time: only the signal can make ferryd
            // read it again.
            let grantedWriter = try TestCredentials.Principal(
                "writer", keys: writer.keys, rules: Self.writer.replacingOccurrences(of: #"["orders.>"]"#, with: #"[">"]       "#))
            let narrowedReader = try TestCredentials.Principal(
                "reader", keys: reader.keys, rules: Self.reader.replacingOccurrences(of: #"["email"]"#, with: #"["audit"]"#))
            try rewriteInPlace(credentials, [narrowedReader, grantedWriter])
            ferryd.process.send(SIGHUP)

            let ended = try member.receive(timeout: .seconds(10))
            guard case .subscriptionEnded(let notice)? = ended?.reply else {
                Issue.record("expected SubscriptionEnded, got \(String(describing: ended))")
                return
            }
            #expect(notice.subscriptionID == subscribed.subscriptionID && notice.code == .forbidden)
            #expect(try publishCode("payments.captured") == nil)
            #expect(try Self.greets(member), "the session itself goes on")
        }
    }

    /// Writes the new credentials over the old bytes of the same length and puts the old
    /// modification time back, so that only a SIGHUP reveals the change.
    private func rewriteInPlace(_ credentials: TestCredentials, _ principals: [TestCredentials.Principal]) throws {
        let path = credentials.credentialsFile
        let old = try Data(contentsOf: URL(fileURLWithPath: path))
        let scratch = try TestCredentials([])
        try scratch.write(principals)
        let new = try Data(contentsOf: URL(fileURLWithPath: scratch.credentialsFile))
        try #require(new.count == old.count, "the rewrite must keep the file's size")
        var info = stat()
        stat(path, &info)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.write(contentsOf: new)
        try handle.close()
        var times = [info.st_atim, info.st_mtim]
        utimensat(AT_FDCWD, path, &times, 0)
    }

    @Test("ferryd refuses to start when handshakes would go unchecked or its security set-up is wrong")
    func refusesToStart() async throws {
        let credentials = try TestCredentials([try .init("writer", rules: Self.writer)])
        func exitOutput(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32?, output: String) {
            let process = try ManagedProcess(
                product: "ferryd", arguments: ["--storage", "memory", "--endpoint", "tcp://127.0.0.1:0", "--http-endpoint", "off"] + arguments, captureErrors: true,
                environment: environment)
            let status = await process.waitForExit(timeout: .seconds(20))
            return (status, process.outputLines.joined(separator: "\n"))
        }
        let noZAP = try await exitOutput(credentials.ferrydArguments, environment: ["FERRYD_FAULT_SKIP_ZAP_HANDLER": "1"])
        #expect(noZAP.status != nil && noZAP.status != 0)
        #expect(noZAP.output.contains("ZAP handler"), "\(noZAP.output)")

        try credentials.write(text: "principals:\n  - name: writer\n    keys: [\"\(credentials.server.publicKey)\"]\n    alow: {}\n")
        let broken = try await exitOutput(credentials.ferrydArguments)
        #expect(broken.status != nil && broken.status != 0)
        #expect(broken.output.contains("unknown field 'alow'"), "\(broken.output)")

        let keyOnly = try await exitOutput(["--curve-secret-key-file", credentials.serverSecretFile])
        #expect(keyOnly.status != nil && keyOnly.status != 0)
        #expect(keyOnly.output.contains("needs --credentials"), "\(keyOnly.output)")

        // Checked before anything is bound: no socket is opened off loopback.
        let exposed = try await exitOutput(["--endpoint", "tcp://0.0.0.0:0"])
        #expect(exposed.status != nil && exposed.status != 0)
        #expect(exposed.output.contains("ferry keygen") && exposed.output.contains("--insecure"), "\(exposed.output)")
    }
}
