import ZeroMQ

/// The principals ferryd knows, by client key: who may connect and what each may do.
///
/// Read from the operator's credentials file and replaced whole on reload; the broker thread
/// owns the current one.
public struct Credentials: Sendable, Equatable {
    public let principals: [Principal]
    private let principalByKey: [String: Int]

    /// Limits on what one file may hold, so that a reload never holds the broker loop for long.
    public static let maxPrincipals = 10_000
    public static let maxKeysPerPrincipal = 100
    public static let maxPatternsPerRule = 256

    /// Checks names and keys: each name valid and unique, each key 40 characters of Z85 and
    /// listed once in the whole file.
    public init(principals: [Principal]) throws(CredentialsError) {
        guard principals.count <= Self.maxPrincipals else {
            throw CredentialsError("\(principals.count) principals; at most \(Self.maxPrincipals)")
        }
        var byKey: [String: Int] = [:]
        var names: Set<String> = []
        for (index, principal) in principals.enumerated() {
            try Self.validate(name: principal.name)
            guard names.insert(principal.name).inserted else { throw CredentialsError("principal '\(principal.name)' is listed twice") }
            guard !principal.keys.isEmpty else { throw CredentialsError("principal '\(principal.name)' has no keys") }
            guard principal.keys.count <= Self.maxKeysPerPrincipal else {
                throw CredentialsError("principal '\(principal.name)' has \(principal.keys.count) keys; at most \(Self.maxKeysPerPrincipal)")
            }
            for key in principal.keys {
                guard Self.isZ85Key(key) else {
                    throw CredentialsError("principal '\(principal.name)': '\(key)' is not a CURVE public key (40 characters of Z85)")
                }
                if let other = byKey[key] {
                    throw CredentialsError("a key of principal '\(principal.name)' is also one of '\(principals[other].name)'")
                }
                byKey[key] = index
            }
            for grants in [principal.allow, principal.deny] {
                let longest = [grants.publish, grants.subscribeTopics, grants.subscribeGroups, grants.adminGroups].map(\.count).max() ?? 0
                guard longest <= Self.maxPatternsPerRule else {
                    throw CredentialsError("principal '\(principal.name)' has a rule of \(longest) patterns; at most \(Self.maxPatternsPerRule)")
                }
            }
        }
        self.principals = principals
        self.principalByKey = byKey
    }

    /// The principal that `key` (Z85 text) authenticates as, if any.
    public func principal(forKey key: String) -> Principal? {
        principalByKey[key].map { principals[$0] }
    }

    /// Principal names: 1-64 bytes of `A-Z a-z 0-9 _ . -`, so that they fit a header and a
    /// metric label as they are.
    public static func validate(name: String) throws(CredentialsError) {
        let valid =
            (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                    true
                default: false
                }
            }
        guard valid else { throw CredentialsError("principal name '\(name)' must be 1-64 bytes of [A-Za-z0-9_.-]") }
        // The name metrics give connections without a known key.
        guard name != "unknown" else { throw CredentialsError("'unknown' is reserved (metrics name unknown keys so); choose another name") }
    }

    static func isZ85Key(_ key: String) -> Bool { Z85.decodeKey(key) != nil }
}

/// A credentials file that cannot be used, with what is wrong in it.
public struct CredentialsError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
