import FerryBroker
import Synchronization
import ZeroMQ

/// The CURVE key pairs ferryd's HTTP side connects to its own broker with, one per principal:
/// made in memory when the credentials load, added to that principal's keys, never written
/// anywhere. An HTTP request signed in as a principal acts through that principal's key, so
/// the broker authorizes it as that principal, with no gateway identity above them.
final class GatewayKeys: Sendable {
    private let pairs = Mutex<[String: CurveKeyPair]>([:])

    /// The public key of `principal`'s pair, made on first use.
    func publicKey(for principal: String) -> String? {
        pair(for: principal)?.publicKey
    }

    func pair(for principal: String) -> CurveKeyPair? {
        pairs.withLock { pairs in
            if let pair = pairs[principal] { return pair }
            guard let pair = try? CurveKeyPair.generate() else { return nil }
            pairs[principal] = pair
            return pair
        }
    }
}

/// The credentials in force, for the HTTP side's questions (may this principal administer
/// that group?); replaced on reload.
final class CurrentCredentials: Sendable {
    private let credentials: Mutex<Credentials?>

    init(_ credentials: Credentials?) { self.credentials = Mutex(credentials) }

    func replace(_ new: Credentials) { credentials.withLock { $0 = new } }

    /// Without credentials (no security) everyone may.
    func mayAdminister(principal: String, group: String) -> Bool {
        credentials.withLock { credentials in
            guard let credentials else { return true }
            return credentials.principals.first { $0.name == principal }?.mayAdminister(group: group) ?? false
        }
    }
}
