public import Ferry
import Foundation
import OrderEvents

/// One principal of the order system when ferryd serves CURVE: a process's identity and exactly
/// what it needs — the topics it publishes, the topics and group it consumes, and admin rights
/// only where it uses admin commands. Everything else is refused (`FORBIDDEN`): the email worker,
/// for one, publishes nothing, so it cannot publish a payment.
public struct OrderSystemIdentity: Sendable, Equatable {
    public let name: String
    /// Topic patterns it may publish to.
    public var publish: [String] = []
    /// Topic patterns its subscriptions must stay within, and the groups it may join.
    public var subscribeTopics: [String] = []
    public var subscribeGroups: [String] = []
    /// Groups whose dead letters it may list, requeue or purge and whose cursors it may replay.
    public var adminGroups: [String] = []
    /// HistoryRequest (every topic's events by key) and StatsRequest.
    public var history = false
    public var stats = false
    /// bcrypt hashes of the passwords it signs in to ferryd's HTTP API and console with.
    public var httpPasswordHashes: [String] = []

    public init(_ name: String) { self.name = name }

    /// Its entry in a credentials file, with its one client key.
    func credentialsEntry(key: String) -> String {
        func list(_ items: [String]) -> String { "[" + items.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }
        var lines = ["  - name: \(name)", "    keys: [\"\(key)\"]"]
        if !httpPasswordHashes.isEmpty { lines.append("    http_passwords: \(list(httpPasswordHashes))") }
        lines.append("    allow:")
        let header = lines.count
        if !publish.isEmpty { lines.append("      publish: \(list(publish))") }
        if !subscribeTopics.isEmpty || !subscribeGroups.isEmpty {
            lines.append("      subscribe: { topics: \(list(subscribeTopics)), groups: \(list(subscribeGroups)) }")
        }
        if !adminGroups.isEmpty || history || stats {
            var admin: [String] = []
            if !adminGroups.isEmpty { admin.append("groups: \(list(adminGroups))") }
            if history { admin.append("history: true") }
            if stats { admin.append("stats: true") }
            lines.append("      admin: { \(admin.joined(separator: ", ")) }")
        }
        if lines.count == header { lines.removeLast() }  // nothing allowed: no `allow` at all
        return lines.joined(separator: "\n") + "\n"
    }
}

extension OrderSystemIdentity {
    private static func topics(_ types: any EventRepresentable.Type...) -> [String] { types.map { $0.topic } }

    /// The HTTP API: publishes the order events of its outbox and users' actions, consumes
    /// `InventoryReservationFailed` (the saga, group `orders`), and reads an order's history
    /// from ferryd (`GET /api/orders/:id/events`).
    public static let ordersAPI = {
        var identity = OrderSystemIdentity("orders-api")
        identity.publish = topics(OrderCreated.self, OrderConfirmed.self, OrderShipped.self, OrderCancelled.self, UserAction.self)
        identity.subscribeTopics = topics(InventoryReservationFailed.self)
        identity.subscribeGroups = ["orders"]
        identity.history = true
        return identity
    }()

    public static let inventoryWorker = {
        var identity = OrderSystemIdentity("inventory-worker")
        identity.publish = topics(InventoryReserved.self, InventoryReservationFailed.self, InventoryReleased.self)
        identity.subscribeTopics = topics(OrderCreated.self, OrderCancelled.self)
        identity.subscribeGroups = ["inventory"]
        return identity
    }()

    public static let paymentWorker = {
        var identity = OrderSystemIdentity("payment-worker")
        identity.publish = topics(PaymentProcessed.self, PaymentRefunded.self)
        identity.subscribeTopics = topics(OrderCreated.self, OrderCancelled.self)
        identity.subscribeGroups = ["payment"]
        return identity
    }()

    public static let fulfillmentWorker = {
        var identity = OrderSystemIdentity("fulfillment-worker")
        identity.publish = topics(OrderReadyForFulfillment.self)
        identity.subscribeTopics = topics(PaymentProcessed.self, InventoryReserved.self, OrderCancelled.self)
        identity.subscribeGroups = ["fulfillment"]
        return identity
    }()

    /// Consumes, and publishes only the payment reminders it schedules (and cancels).
    public static let emailWorker = {
        var identity = OrderSystemIdentity("email-worker")
        identity.publish = topics(PaymentReminderDue.self)
        identity.subscribeTopics = topics(
            OrderConfirmed.self, OrderShipped.self, OrderCreated.self, OrderCancelled.self, PaymentReminderDue.self)
        identity.subscribeGroups = ["email", "payment-reminders"]
        return identity
    }()

    public static let notificationWorker = {
        var identity = OrderSystemIdentity("notification-worker")
        identity.subscribeTopics = topics(
            OrderCreated.self, OrderConfirmed.self, OrderShipped.self, OrderCancelled.self, PaymentRefunded.self,
            OrderReadyForFulfillment.self)
        identity.subscribeGroups = ["notifications"]
        return identity
    }()

    /// Consumes every order event; may replay its own group (`audit-worker replay`).
    public static let auditWorker = {
        var identity = OrderSystemIdentity("audit-worker")
        identity.subscribeTopics = OrderSystemEvents.orderEventTypes.map { $0.topic }
        identity.subscribeGroups = ["audit"]
        identity.adminGroups = ["audit"]
        return identity
    }()

    public static let analyticsWorker = {
        var identity = OrderSystemIdentity("analytics-worker")
        identity.subscribeTopics = topics(UserAction.self)
        identity.subscribeGroups = ["analytics"]
        return identity
    }()

    /// The loyalty worker, in Python (`python/loyalty_worker.py`): points for shipped orders
    /// (group `loyalty`, publishing `LoyaltyPointsAwarded`) and users' actions in batches (group
    /// `engagement`).
    public static let loyaltyWorker = {
        var identity = OrderSystemIdentity("loyalty-worker")
        identity.publish = ["LoyaltyPointsAwarded"]
        identity.subscribeTopics = topics(OrderCreated.self, OrderShipped.self, OrderCancelled.self, UserAction.self)
        identity.subscribeGroups = ["loyalty", "engagement"]
        return identity
    }()

    /// The demo's front end (`order-system run`'s traffic): publishes users' actions, nothing else.
    public static let storefront = {
        var identity = OrderSystemIdentity("storefront")
        identity.publish = topics(UserAction.self)
        return identity
    }()

    /// Who watches the system (`order-system run`'s report): ferryd's statistics and the
    /// dead-letter queues of the system's groups; it publishes and consumes nothing.
    public static let `operator` = {
        var identity = OrderSystemIdentity("operator")
        identity.adminGroups = [
            "orders", "inventory", "payment", "fulfillment", "email", "payment-reminders", "notifications", "audit", "analytics",
            "loyalty", "engagement",
        ]
        identity.stats = true
        // History and traces: what the operator investigates with.
        identity.history = true
        // The demo's console password, `ferry-demo` (a demo's: make your own hash for real use).
        identity.httpPasswordHashes = [demoConsolePasswordHash]
        return identity
    }()

    /// The demo operator's console password and its bcrypt hash.
    public static let demoConsolePassword = "ferry-demo"
    static let demoConsolePasswordHash = "$2b$10$sPgpITkP34eV//YT/Zh1heA5nl3q9Kogq3yuPeCSS8lpZt/lbmavO"

    /// Every identity of the system. A process's identity is named after its executable.
    public static let all: [OrderSystemIdentity] = [
        ordersAPI, inventoryWorker, paymentWorker, fulfillmentWorker, emailWorker, notificationWorker, auditWorker, analyticsWorker,
        loyaltyWorker, storefront, `operator`,
    ]
}

/// CURVE for a whole order system: ferryd's key pair, one key pair per identity, and the
/// credentials file that grants each identity its part (``OrderSystemIdentity``). What
/// `order-system run` writes into its data directory, and what the tests start a secured
/// system with.
public struct OrderSystemKeys: Sendable {
    public let directory: String
    /// ferryd's certificate files (`ferryd.key`, `ferryd.key_secret`).
    public let server: KeyFiles
    /// Each identity's certificate files, by identity name.
    public let clients: [String: KeyFiles]
    public let credentialsFile: String

    /// Generates every key pair into `directory` (replacing earlier ones) and writes
    /// `credentials.yaml` there.
    public static func generate(in directory: String, identities: [OrderSystemIdentity] = OrderSystemIdentity.all) throws(FerryError)
        -> OrderSystemKeys
    {
        let server = try KeyFiles.generate(name: "ferryd", directory: directory, overwrite: true)
        var clients: [String: KeyFiles] = [:]
        var text = """
            # Written by the order system: one principal per process, each with only what it needs.
            # Whatever is not allowed here is refused (FORBIDDEN).
            principals:

            """
        for identity in identities {
            let files = try KeyFiles.generate(name: identity.name, directory: directory, overwrite: true)
            clients[identity.name] = files
            text += identity.credentialsEntry(key: files.publicKey)
        }
        let credentialsFile = URL(fileURLWithPath: directory).appendingPathComponent("credentials.yaml").path
        do {
            try text.write(toFile: credentialsFile, atomically: true, encoding: .utf8)
        } catch {
            throw FerryError(.invalidKey, "cannot write \(credentialsFile): \(error.localizedDescription)")
        }
        return OrderSystemKeys(directory: directory, server: server, clients: clients, credentialsFile: credentialsFile)
    }

    /// ferryd's arguments: serve CURVE with these keys and credentials.
    public var ferrydArguments: [String] { ["--curve-secret-key-file", server.secretFile, "--credentials", credentialsFile] }

    /// The certificate files of `identity`.
    public func files(of identity: String) throws(FerryError) -> KeyFiles {
        guard let files = clients[identity] else { throw FerryError(.invalidKey, "no keys for an identity named '\(identity)'") }
        return files
    }

    /// The environment a process running as `identity` gets (read by ``ProcessOptions``).
    public func environment(of identity: String) throws(FerryError) -> [String: String] {
        ["FERRY_SERVER_KEY": server.publicKey, "FERRY_CLIENT_KEY_FILE": try files(of: identity).secretFile]
    }

    /// The same as command-line options of a process (``ProcessOptions``). Joined with `=`: a
    /// Z85 key may begin with `-`, which a separate argument would make look like an option.
    public func arguments(of identity: String) throws(FerryError) -> [String] {
        ["--server-key=\(server.publicKey)", "--client-key-file=\(try files(of: identity).secretFile)"]
    }

    /// A client configuration that connects as `identity`.
    public func clientConfiguration(endpoint: String, clientName: String, as identity: String) throws(FerryError) -> ClientConfiguration {
        var configuration = ClientConfiguration(endpoint: endpoint, clientName: clientName)
        configuration.upcasters = OrderSystemUpcasters.all
        configuration.security = try ClientSecurity(serverKey: server.publicKey, clientKeyFile: files(of: identity).secretFile)
        return configuration
    }
}
