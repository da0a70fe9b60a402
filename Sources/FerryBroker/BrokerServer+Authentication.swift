import FerryRuntime
import Foundation
import ZeroMQ

extension BrokerServer {
    /// The start-up refusal of a broker whose CURVE handshakes would not be checked.
    struct AuthenticationSetupError: Error, CustomStringConvertible {
        let code = "ZAP_HANDLER_UNREACHED"
        let message: String
        var description: String { message }
    }

    /// Makes `router` a CURVE server whose handshakes are decided by ferryd's ZAP handler, and
    /// proves it before any real endpoint is bound: a probe client with a key of its own must
    /// reach the handler (and be refused) on a loopback port bound for the purpose. A broker
    /// whose handshakes would not be checked (CURVE without a ZAP handler accepts every client
    /// key) refuses to start.
    func secure(_ router: Socket, secretKey: String, in context: Context) throws -> ZAPHandler {
        guard let serverKeys = CurveKeyPair(secretKey: secretKey), let secret = Z85.decodeKey(secretKey) else {
            throw AuthenticationSetupError(message: "the server's CURVE secret key is not 40 characters of Z85")
        }
        let handler = try ZAPHandler(context: context)
        try router.setZAPDomain(ZAPHandler.domain)
        try router.setZAPEnforceDomain(true)
        try router.setCurveServer(secretKey: secret)

        try router.bind("tcp://127.0.0.1:0")
        let probeEndpoint = try router.lastEndpoint
        defer { try? router.unbind(probeEndpoint) }
        let probeKeys = try CurveKeyPair.generate()
        let probe = try Socket(context: context, type: .dealer)
        try probe.setCurveClient(
            serverKey: Z85.decodeKey(serverKeys.publicKey) ?? [], publicKey: Z85.decodeKey(probeKeys.publicKey) ?? [],
            secretKey: Z85.decodeKey(probeKeys.secretKey) ?? [])
        try probe.connect(probeEndpoint)
        let probeKey = Z85.decodeKey(probeKeys.publicKey)
        var poller = Poller()
        let zapIndex = poller.addReadable(handler.socket)
        let deadline = MonotonicInstant.now() + Nanoseconds.milliseconds(5000)
        while MonotonicInstant.now() < deadline {
            _ = try poller.poll(timeoutMilliseconds: 50)
            guard poller.isReadable(zapIndex) else { continue }
            let seen = try handler.answerPending { request in
                request.curvePublicKey == probeKey ? .refuse("ferryd's start-up probe") : .refuse("not yet serving")
            }
            if seen.contains(where: { $0.curvePublicKey == probeKey }) { return handler }
        }
        throw AuthenticationSetupError(
            message: "CURVE handshakes do not reach ferryd's ZAP handler (\(ZAPRequest.endpoint)); refusing to start rather than accept unchecked clients")
    }
}
