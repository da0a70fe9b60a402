import Dispatch
import Foundation
import HTTPTypes
import HummingbirdBcrypt
import Synchronization

/// Who may sign in over HTTP: each principal's bcrypt hashes of its passwords and tokens (from
/// the credentials file's `http_passwords`), replaced whole when the credentials reload.
///
/// bcrypt is slow on purpose, so verification runs off the event loops, a few at a time, and a
/// credential that verified is remembered for a few minutes: an API client sending Basic
/// authentication with every request costs one bcrypt, not one per request.
public final class HTTPLogins: Sendable {
    private struct State {
        var hashes: [String: [String]] = [:]
        /// Credentials that verified, by principal and password, with when they stop counting.
        var verified: [String: ContinuousClock.Instant] = [:]
        var running = 0
    }

    private let state = Mutex(State())
    /// Most bcrypt verifications at once; more are refused (429) rather than queued.
    static let maxConcurrentVerifications = 4
    /// How long a verified credential is remembered.
    static let verifiedLifetime: Duration = .seconds(300)
    /// Most credentials remembered.
    static let maxRemembered = 4096

    public init(hashes: [String: [String]] = [:]) {
        state.withLock { $0.hashes = hashes }
    }

    /// Replaces every principal's hashes and forgets what verified before.
    public func replace(_ hashes: [String: [String]]) {
        state.withLock {
            $0.hashes = hashes
            $0.verified = [:]
        }
    }

    /// Whether any principal can sign in over HTTP.
    public var isEmpty: Bool { state.withLock { $0.hashes.values.allSatisfy(\.isEmpty) } }

    /// Whether `password` is one of `principal`'s.
    /// - Throws: ``APIError`` 429 when too many verifications run already.
    public func verify(principal: String, password: String) async throws(APIError) -> Bool {
        let cacheKey = principal + "\u{0}" + password
        let now = ContinuousClock.now
        let hashes: [String]? = try state.withLock { (state) throws(APIError) -> [String]? in
            if let until = state.verified[cacheKey], until > now { return nil }
            guard let hashes = state.hashes[principal], !hashes.isEmpty else { return [] }
            guard state.running < Self.maxConcurrentVerifications else {
                throw APIError(.tooManyRequests, "RESOURCE_EXHAUSTED", "too many sign-ins at once; try again")
            }
            state.running += 1
            return hashes
        }
        guard let hashes else { return true }
        if hashes.isEmpty { return false }
        let matched = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            DispatchQueue.global().async {
                continuation.resume(returning: hashes.contains { Bcrypt.verify(password, hash: $0) })
            }
        }
        state.withLock { state in
            state.running -= 1
            guard matched, state.hashes[principal] == hashes else { return }
            if state.verified.count >= Self.maxRemembered { state.verified = state.verified.filter { $0.value > now } }
            if state.verified.count < Self.maxRemembered { state.verified[cacheKey] = now + Self.verifiedLifetime }
        }
        return matched
    }
}
