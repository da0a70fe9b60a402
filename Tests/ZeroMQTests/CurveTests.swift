import Foundation
import Testing
import ZeroMQ

/// CURVE in the binding: certificates, and what a server does with and without a ZAP handler.
@Suite("CURVE certificates and ZAP", .serialized)
struct CurveTests {
    @Test("a certificate's text reads back, with or without its secret key; bad files say what is wrong")
    func certificates() throws {
        let certificate = try CurveCertificate.generate(metadata: ["principal": "email"])
        #expect(try CurveCertificate.parse(certificate.text(includingSecret: true)) == certificate)
        let publicOnly = try CurveCertificate.parse(certificate.text(includingSecret: false))
        #expect(publicOnly.publicKey == certificate.publicKey && publicOnly.secretKey == nil)
        #expect(publicOnly.metadata["principal"] == "email")
        // The files pyzmq's zmq.auth.create_certificates writes.
        let pyzmq = """
            #   ****  Generated on 2026-12-07 10:00:00.000000 by pyzmq  ****
            #   ZeroMQ CURVE **Secret** Certificate
            #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

            metadata
            curve
                public-key = "\(certificate.publicKey)"
                secret-key = "\(certificate.secretKey ?? "")"
            """
        #expect(try CurveCertificate.parse(pyzmq).keyPair == certificate.keyPair)
        let other = try CurveKeyPair.generate()
        let mismatched = "curve\n    public-key = \"\(other.publicKey)\"\n    secret-key = \"\(certificate.secretKey ?? "")\"\n"
        #expect(throws: CertificateError.self) { try CurveCertificate.parse(mismatched) }
        #expect(throws: CertificateError.self) { try CurveCertificate.parse("curve\n    public-key = \"short\"\n") }
        #expect(throws: CertificateError.self) { try CurveCertificate.parse("metadata\n") }
        #expect(CurveKeyPair(secretKey: certificate.secretKey ?? "")?.publicKey == certificate.publicKey)
    }

    /// A CURVE ROUTER on loopback, and whether a CURVE client's message reaches it.
    private func clientGetsThrough(zapHandler: Bool, enforceDomain: Bool) throws -> Bool {
        let context = try Context()
        let server = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        var handler: Socket?
        if zapHandler {
            handler = try Socket(context: context, type: .rep)
            try handler?.bind(ZAPRequest.endpoint)
        }
        let router = try Socket(context: context, type: .router)
        try router.setZAPDomain("test")
        try router.setZAPEnforceDomain(enforceDomain)
        try router.setCurveServer(secretKey: Z85.decodeKey(server.secretKey) ?? [])
        try router.bind("tcp://127.0.0.1:0")
        let dealer = try Socket(context: context, type: .dealer)
        try dealer.setCurveClient(
            serverKey: Z85.decodeKey(server.publicKey) ?? [], publicKey: Z85.decodeKey(client.publicKey) ?? [],
            secretKey: Z85.decodeKey(client.secretKey) ?? [])
        try dealer.connect(try router.lastEndpoint)
        try dealer.send(Array("hello".utf8))
        if let handler {
            // Refuse whatever asks.
            let request = try #require(try receive(handler))
            let parsed = try #require(ZAPRequest(frames: bytes(request)))
            #expect(parsed.domain == "test" && parsed.curvePublicKey == Z85.decodeKey(client.publicKey))
            try handler.send(multipart: ZAPRequest.reply(requestID: parsed.requestID, status: 400, text: "no"))
        }
        return try receive(router, timeoutMilliseconds: 1_000) != nil
    }

    @Test("without a ZAP handler CURVE accepts any client key unless the domain is enforced; a handler's 400 refuses")
    func zapFailureModes() throws {
        // The failure mode ferryd must make impossible: no handler, no enforcement, anyone in.
        #expect(try clientGetsThrough(zapHandler: false, enforceDomain: false))
        #expect(try !clientGetsThrough(zapHandler: false, enforceDomain: true))
        #expect(try !clientGetsThrough(zapHandler: true, enforceDomain: true))
    }
}
