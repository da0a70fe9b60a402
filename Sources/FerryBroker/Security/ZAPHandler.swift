import Foundation
import ZeroMQ

/// ferryd's answer to libzmq's ZAP requests: the REP socket at `inproc://zeromq.zap.01` in the
/// router's context, owned and served by the broker thread.
///
/// libzmq asks it about every CURVE handshake; it must be bound before any TCP endpoint, or
/// connections made before it would be accepted without a check (with
/// `ZMQ_ZAP_ENFORCE_DOMAIN`, refused instead). ``BrokerServer`` also proves at start-up that
/// handshakes reach it (see ``BrokerServer``'s authentication probe).
final class ZAPHandler {
    /// The ZAP domain of ferryd's router; requests of any other domain are refused.
    static let domain = "ferry"

    let socket: Socket

    /// Binds the handler in `context`. The environment variable `FERRYD_FAULT_SKIP_ZAP_HANDLER=1`
    /// binds it elsewhere, for the test that proves ferryd then refuses to start.
    init(context: Context) throws {
        socket = try Socket(context: context, type: .rep)
        let skip = ProcessInfo.processInfo.environment["FERRYD_FAULT_SKIP_ZAP_HANDLER"] == "1"
        try socket.bind(skip ? "inproc://ferryd-zap-handler-skipped" : ZAPRequest.endpoint)
    }

    /// Answers every request waiting, deciding each with `decide`; returns the requests seen.
    @discardableResult
    func answerPending(_ decide: (ZAPRequest) -> ZAPDecision) throws -> [ZAPRequest] {
        var seen: [ZAPRequest] = []
        while let frames = try socket.receiveMultipart(dontWait: true) {
            let parts = frames.map(\.bytes)
            let reply: [[UInt8]]
            if let request = ZAPRequest(frames: parts) {
                seen.append(request)
                let decision = request.domain == Self.domain ? decide(request) : .refuse("ZAP domain '\(request.domain)' is not ferryd's")
                reply = ZAPRequest.reply(requestID: request.requestID, status: decision.status, text: decision.text, userID: decision.userID)
            } else {
                reply = ZAPRequest.reply(requestID: parts.count > 1 ? parts[1] : [], status: 500, text: "malformed ZAP request")
            }
            try socket.send(multipart: reply)
        }
        return seen
    }
}

/// What the ZAP handler answers about one handshake.
struct ZAPDecision {
    let status: Int
    let text: String
    let userID: String

    static func accept(userID: String) -> ZAPDecision { ZAPDecision(status: 200, text: "OK", userID: userID) }
    static func refuse(_ reason: String) -> ZAPDecision { ZAPDecision(status: 400, text: reason, userID: "") }
}
