import FerryProtocol
import FerryTestSupport
import Foundation
import Testing
import ZeroMQ

/// Grants against a real ferryd serving CURVE: every command kind allowed and refused, per
/// principal, through raw protocol clients.
@Suite("Grants: each principal may do what it was granted and nothing else", .serialized)
struct SecurityGrantTests {
    let credentials: TestCredentials
    let ferryd: Ferryd
    let publisher: TestCredentials.Principal
    let consumer: TestCredentials.Principal
    let operatorPrincipal: TestCredentials.Principal

    init() async throws {
        publisher = try .init(
            "publisher",
            rules: """
                allow:
                  publish: ["orders.>"]
                deny:
                  publish: ["orders.secret"]
                """)
        consumer = try .init(
            "consumer",
            rules: """
                allow:
                  subscribe: { topics: ["orders.>"], groups: ["email", "billing.>"] }
                deny:
                  subscribe: { topics: ["orders.private.>"] }
                """)
        operatorPrincipal = try .init(
            "operator",
            rules: """
                allow:
                  admin: { groups: ["email"], history: true, stats: true }
                  subscribe: { topics: ["orders.>"], groups: ["billing.>"] }
                """)
        credentials = try TestCredentials([publisher, consumer, operatorPrincipal])
        ferryd = try await Ferryd(credentials.ferrydArguments)
    }

    @Test("a publish is checked item by item: forbidden items are refused with FORBIDDEN, the others stored")
    func publishPerItem() async throws {
        try await onOwnThread { [self] in
            let client = try credentials.client(of: ferryd, as: publisher)
            var publish = Publish()
            for (sequence, topic) in [(1, "orders.created"), (2, "payments.captured"), (3, "orders.secret"), (4, "orders.eu.created")] {
                var item = PublishItem()
                item.sequence = UInt64(sequence)
                item.event.topic = topic
                item.event.id = "e\(sequence)"
                publish.items.append(item)
            }
            try client.send(.publish(publish))
            let reply = try #require(try client.receive())
            guard case .publishResult(let result) = reply.reply else { throw RawClient.UnexpectedReply(reply: reply) }
            #expect(Set(result.confirmed) == [1, 4])
            #expect(result.rejected.map(\.sequence).sorted() == [2, 3])
            #expect(result.rejected.allSatisfy { $0.code == .forbidden && $0.message.contains("publisher") })
        }
    }

    @Test("ferryd stamps the publishing principal on each event, and refuses a client that sets it")
    func principalHeader() async throws {
        try await onOwnThread { [self] in
            let subscriber = try credentials.client(of: ferryd, as: consumer)
            var subscribe = Subscribe()
            subscribe.group = "email"
            subscribe.patterns = ["orders.stamped"]
            _ = try subscriber.subscribe(.subscribe(subscribe))

            let client = try credentials.client(of: ferryd, as: publisher)
            try client.send(.hello(Hello()))
            guard case .welcome(let welcome)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(welcome.principal == "publisher")

            var publish = Publish()
            var honest = PublishItem()
            honest.sequence = 1
            honest.event.topic = "orders.stamped"
            honest.event.id = "honest"
            var forged = honest
            forged.sequence = 2
            forged.event.id = "forged"
            forged.event.headers = ["ferry-principal": "operator"]
            publish.items = [honest, forged]
            try client.send(.publish(publish))
            guard case .publishResult(let result)? = try client.receive()?.reply else { throw RawClient.UnexpectedReply(reply: nil) }
            #expect(result.confirmed == [1])
            #expect(result.rejected.first?.code == .invalidArgument)

            let delivery = try #require(try subscriber.receive())
            guard case .deliver(let deliver) = delivery.reply else { throw RawClient.UnexpectedReply(reply: delivery) }
            #expect(deliver.deliveries.map(\.event.id) == ["honest"])
            #expect(deliver.deliveries.first?.event.headers["ferry-principal"] == "publisher")
        }
    }

    @Test("a subscription needs every topic its patterns reach and, for a durable group, the group")
    func subscriptions() async throws {
        try await onOwnThread { [self] in
            let client = try credentials.client(of: ferryd, as: consumer)
            func subscribe(_ group: String, _ patterns: [String], ephemeral: Bool = false) throws -> ServerMessage? {
                var subscribe = Subscribe()
                subscribe.group = group
                subscribe.patterns = patterns
                subscribe.ephemeral = ephemeral
                try client.send(.subscribe(subscribe))
                return try client.receive()
            }
            func isForbidden(_ reply: ServerMessage?) -> Bool {
                if case .error(let error)? = reply?.reply { return error.code == .forbidden }
                return false
            }
            func isSubscribed(_ reply: ServerMessage?) -> Bool {
                if case .subscribed? = reply?.reply { return true }
                return false
            }
            #expect(isSubscribed(try subscribe("email", ["orders.*"])))
            #expect(isForbidden(try subscribe("billing.eu", ["orders.>"])), "orders.> reaches the denied orders.private.>")
            #expect(isForbidden(try subscribe("billing.eu", ["orders.*.paid"])), "orders.private.paid is denied")
            #expect(isSubscribed(try subscribe("billing.eu", ["orders.created", "orders.eu.paid"])))
            #expect(isForbidden(try subscribe("audit", ["orders.created"])), "no grant for group audit")
            #expect(isForbidden(try subscribe("email", [">"])), "> reaches topics beyond orders.>")
            #expect(isForbidden(try subscribe("email", ["orders.private.x"])), "denied topic")
            #expect(isSubscribed(try subscribe("", ["orders.*"], ephemeral: true)), "a tail needs only the topics")
            #expect(isForbidden(try subscribe("", ["payments.>"], ephemeral: true)))
            #expect(isForbidden(try subscribe("tail-of-consumer", ["orders.*"], ephemeral: true)), "a named tail needs its name granted")
            #expect(isSubscribed(try subscribe("billing.tail", ["orders.*"], ephemeral: true)))

            let outsider = try credentials.client(of: ferryd, as: publisher)
            var subscribe = Subscribe()
            subscribe.group = "email"
            subscribe.patterns = ["orders.created"]
            try outsider.send(.subscribe(subscribe))
            #expect(isForbidden(try outsider.receive()))

            // A named tail is its creator's: another principal granted its topics and name cannot join it.
            let other = try credentials.client(of: ferryd, as: operatorPrincipal)
            var join = Subscribe()
            join.group = "billing.tail"
            join.patterns = ["orders.*"]
            join.ephemeral = true
            try other.send(.subscribe(join))
            #expect(isForbidden(try other.receive()))
            join.group = "billing.operator-tail"
            try other.send(.subscribe(join))
            #expect(isSubscribed(try other.receive()))
        }
    }

    @Test("dead-letter commands, replay, history, trace and stats need the admin grant for their group or kind")
    func adminCommands() async throws {
        try await onOwnThread { [self] in
            // The groups exist: a consumer joined them.
            let member = try credentials.client(of: ferryd, as: consumer)
            for group in ["email", "billing.eu"] {
                var subscribe = Subscribe()
                subscribe.group = group
                subscribe.patterns = ["orders.admin"]
                _ = try member.subscribe(.subscribe(subscribe))
            }
            func commands(_ group: String) -> [ClientMessage.OneOf_Command] {
                var list = DeadLetterList()
                list.group = group
                var requeue = DeadLetterRequeue()
                requeue.group = group
                requeue.all = true
                var purge = DeadLetterPurge()
                purge.group = group
                purge.all = true
                var replay = Replay()
                replay.group = group
                replay.end = true
                return [.deadLetterList(list), .deadLetterRequeue(requeue), .deadLetterPurge(purge), .replay(replay)]
            }
            var history = HistoryRequest()
            history.key = "k"
            var trace = TraceRequest()
            trace.key = "k"
            let broad: [ClientMessage.OneOf_Command] = [.history(history), .trace(trace), .stats(StatsRequest())]

            func code(of command: ClientMessage.OneOf_Command, as client: RawClient) throws -> ErrorCode? {
                let requestID = try client.send(command)
                while true {
                    let reply = try #require(try client.receive())
                    guard reply.requestID == requestID else { continue }
                    if case .error(let error) = reply.reply { return error.code }
                    return nil
                }
            }
            let outsider = try credentials.client(of: ferryd, as: publisher)
            for command in commands("email") + broad {
                #expect(try code(of: command, as: outsider) == .forbidden, "\(command)")
            }
            let admin = try credentials.client(of: ferryd, as: operatorPrincipal)
            for command in commands("email") + broad {
                #expect(try code(of: command, as: admin) == nil, "\(command)")
            }
            for command in commands("billing.eu") {
                #expect(try code(of: command, as: admin) == .forbidden, "\(command)")
            }
            let stats = try admin.stats()
            #expect(stats.prometheusText.contains(#"ferry_auth_refusals_total{principal="publisher",reason="admin"}"#))
            #expect(stats.prometheusText.contains(#"ferry_auth_refusals_total{principal="publisher",reason="stats"}"#))
        }
    }
}
