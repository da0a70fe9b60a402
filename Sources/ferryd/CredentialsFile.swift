import FerryBroker
import FerryProtocol
import Foundation
import Yams

/// The operator's credentials file (YAML): every principal, its client keys and its grants.
///
/// ```yaml
/// principals:
///   - name: email-worker
///     keys: ["rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"]
///     allow:
///       publish: ["notifications.>"]
///       subscribe: { topics: ["orders.>"], groups: ["email"] }
///     deny:
///       publish: ["payments.>"]
///   - name: operator
///     http_passwords: ["$2b$12$…"]   # bcrypt hashes: sign-in to the HTTP API and console
///     allow:
///       admin: { groups: [">"], history: true, stats: true }
/// ```
///
/// Read strictly: an unknown key, a wrong type or an invalid pattern is an error naming its
/// line, so a typo never grants or denies something silently.
enum CredentialsFile {
    /// Largest file read: far beyond 10,000 principals with a few keys and patterns each.
    static let maxBytes = 16 << 20

    /// What the file holds: the principals (with their keys as written) and each principal's
    /// HTTP password hashes.
    struct Contents {
        var principals: [Principal]
        var httpPasswords: [String: [String]]

        /// The credentials in force: each principal's keys plus `extraKey(name)` (ferryd's own
        /// key for its HTTP side, when it has one).
        func credentials(extraKey: (String) -> String? = { _ in nil }) throws -> Credentials {
            do {
                return try Credentials(
                    principals: principals.map {
                        Principal(name: $0.name, keys: $0.keys + (extraKey($0.name).map { [$0] } ?? []), allow: $0.allow, deny: $0.deny)
                    })
            } catch {
                throw ConfigurationError(message: error.message)
            }
        }
    }

    /// Most HTTP password hashes per principal.
    static let maxHTTPPasswords = 16

    static func load(path: String) throws -> Contents {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let size = attributes?[.size] as? Int, size > maxBytes {
            throw ConfigurationError(message: "\(path): \(size) bytes; a credentials file holds at most \(maxBytes)")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(message: "\(path): cannot read the credentials file (\(error.localizedDescription))")
        }
        do {
            return try parse(text)
        } catch let error as ConfigurationError {
            throw ConfigurationError(message: "\(path): \(error.message)")
        } catch {
            throw ConfigurationError(message: "\(path): \(error)")
        }
    }

    static func parse(_ text: String) throws -> Contents {
        guard let root = try Yams.compose(yaml: text) else { throw ConfigurationError(message: "the file is empty") }
        let top = try mapping(root, allowed: ["principals"], what: "the file")
        guard let list = top["principals"] else { throw ConfigurationError(message: "no 'principals' list") }
        guard let entries = list.sequence else { throw problem(list, "'principals' must be a list") }
        var principals: [Principal] = []
        var httpPasswords: [String: [String]] = [:]
        for entry in entries {
            let fields = try mapping(entry, allowed: ["name", "keys", "http_passwords", "allow", "deny"], what: "a principal")
            guard let name = fields["name"]?.string else { throw problem(entry, "a principal needs a 'name'") }
            do {
                try Credentials.validate(name: name)
            } catch {
                throw problem(entry, error.message)
            }
            let keys = try strings(fields["keys"], what: "'keys' of '\(name)'")
            let passwords = try strings(fields["http_passwords"], what: "'http_passwords' of '\(name)'")
            guard passwords.count <= maxHTTPPasswords else {
                throw problem(fields["http_passwords"], "'\(name)' has \(passwords.count) http_passwords; at most \(maxHTTPPasswords)")
            }
            for hash in passwords where !(hash.hasPrefix("$2a$") || hash.hasPrefix("$2b$")) || hash.utf8.count != 60 {
                throw problem(fields["http_passwords"], "'http_passwords' of '\(name)' must be bcrypt hashes ($2b$…, 60 characters), never passwords")
            }
            guard keys.count < Credentials.maxKeysPerPrincipal else {
                throw problem(fields["keys"], "'\(name)' has \(keys.count) keys; at most \(Credentials.maxKeysPerPrincipal - 1) (ferryd adds one of its own, for HTTP)")
            }
            guard !keys.isEmpty || !passwords.isEmpty else {
                throw problem(entry, "principal '\(name)' has neither keys nor http_passwords: nothing could authenticate as it")
            }
            httpPasswords[name] = passwords
            let allow = try grants(fields["allow"], principal: name, rule: "allow")
            let deny = try grants(fields["deny"], principal: name, rule: "deny")
            principals.append(Principal(name: name, keys: keys, allow: allow, deny: deny))
        }
        return Contents(principals: principals, httpPasswords: httpPasswords)
    }

    private static func grants(_ node: Node?, principal: String, rule: String) throws -> Grants {
        var grants = Grants()
        guard let node else { return grants }
        let what = "'\(rule)' of '\(principal)'"
        let fields = try mapping(node, allowed: ["publish", "subscribe", "admin"], what: what)
        grants.publish = try patterns(fields["publish"], what: "\(what).publish")
        if let subscribe = fields["subscribe"] {
            let parts = try mapping(subscribe, allowed: ["topics", "groups"], what: "\(what).subscribe")
            grants.subscribeTopics = try patterns(parts["topics"], what: "\(what).subscribe.topics")
            grants.subscribeGroups = try patterns(parts["groups"], what: "\(what).subscribe.groups")
        }
        if let admin = fields["admin"] {
            let parts = try mapping(admin, allowed: ["groups", "history", "stats"], what: "\(what).admin")
            grants.adminGroups = try patterns(parts["groups"], what: "\(what).admin.groups")
            grants.history = try bool(parts["history"], what: "\(what).admin.history")
            grants.stats = try bool(parts["stats"], what: "\(what).admin.stats")
        }
        return grants
    }

    private static func mapping(_ node: Node, allowed: Set<String>, what: String) throws -> [String: Node] {
        guard let mapping = node.mapping else { throw problem(node, "\(what) must be a mapping") }
        var fields: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string, allowed.contains(name) else {
                throw problem(key, "unknown field '\(key.string ?? "?")' in \(what); expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            fields[name] = value
        }
        return fields
    }

    private static func strings(_ node: Node?, what: String) throws -> [String] {
        guard let node else { return [] }
        guard let items = node.sequence else { throw problem(node, "\(what) must be a list") }
        return try items.map { item in
            guard let text = item.string, item.scalar != nil else { throw problem(item, "\(what) must hold strings") }
            return text
        }
    }

    private static func patterns(_ node: Node?, what: String) throws -> [TopicPattern] {
        try strings(node, what: what).map { text in
            do throws(ProtocolError) {
                return try TopicPattern(text)
            } catch {
                throw problem(node, "\(what): \(error.message)")
            }
        }
    }

    private static func bool(_ node: Node?, what: String) throws -> Bool {
        guard let node else { return false }
        guard let value = node.bool else { throw problem(node, "\(what) must be true or false") }
        return value
    }

    private static func problem(_ node: Node?, _ message: String) -> ConfigurationError {
        guard let line = node?.mark?.line else { return ConfigurationError(message: message) }
        return ConfigurationError(message: "line \(line): \(message)")
    }
}
