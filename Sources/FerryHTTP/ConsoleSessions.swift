import Foundation
import Synchronization

/// The web console's sign-ins: a random session id (the cookie) per signed-in browser, with
/// the principal it acts as and the token its forms must carry (so that another site cannot
/// make the browser change anything). In memory: a restart signs everyone out.
public final class ConsoleSessions: Sendable {
    public struct Session: Sendable, Equatable {
        public let principal: String
        /// The anti-forgery token every state-changing form sends back.
        public let csrfToken: String
        let expires: ContinuousClock.Instant
    }

    private let sessions = Mutex<[String: Session]>([:])
    /// A session lasts this long after sign-in.
    static let lifetime: Duration = .seconds(12 * 3600)
    /// Most sessions at once; the oldest go first.
    static let maxSessions = 10_000

    public init() {}

    /// Starts a session for `principal`; returns its id.
    public func start(principal: String) -> String {
        let id = Self.randomToken()
        let session = Session(principal: principal, csrfToken: Self.randomToken(), expires: .now + Self.lifetime)
        sessions.withLock { sessions in
            let now = ContinuousClock.now
            if sessions.count >= Self.maxSessions { sessions = sessions.filter { $0.value.expires > now } }
            if sessions.count >= Self.maxSessions, let oldest = sessions.min(by: { $0.value.expires < $1.value.expires })?.key {
                sessions[oldest] = nil
            }
            sessions[id] = session
        }
        return id
    }

    /// The live session with `id`.
    public func session(_ id: String) -> Session? {
        sessions.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            guard session.expires > .now else {
                sessions[id] = nil
                return nil
            }
            return session
        }
    }

    public func end(_ id: String) { sessions.withLock { $0[id] = nil } }

    /// Ends the sessions of principals not in `keep` (removed from the credentials).
    public func endAll(except keep: Set<String>) {
        sessions.withLock { sessions in sessions = sessions.filter { keep.contains($0.value.principal) } }
    }

    /// 32 random bytes, hex.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
