public import Foundation
import ZeroMQ

/// CURVE for a client: the broker's public key, which proves the client talks to the right
/// ferryd, and the client's own key pair, whose public key the broker's credentials map to a
/// principal. The connection is encrypted end to end.
public struct ClientSecurity: Sendable, Equatable {
    /// ferryd's public key (Z85, 40 characters).
    public let serverPublicKey: String
    /// This client's key pair (Z85).
    public let publicKey: String
    public let secretKey: String

    /// Keys given as Z85 text; throws ``FerryError/Code/invalidKey`` for one that is not.
    public init(serverPublicKey: String, publicKey: String, secretKey: String) throws(FerryError) {
        guard Z85.decodeKey(serverPublicKey) != nil else {
            throw FerryError(.invalidKey, "the server's public key is not 40 characters of Z85")
        }
        guard let pair = CurveKeyPair(secretKey: secretKey) else {
            throw FerryError(.invalidKey, "the client's secret key is not 40 characters of Z85")
        }
        guard pair.publicKey == publicKey else { throw FerryError(.invalidKey, "the client's secret key does not belong to its public key") }
        self.serverPublicKey = serverPublicKey
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Keys from files: `serverKey` is ferryd's public key as Z85 text or the path of its
    /// public certificate (`ferryd.key`); `clientKeyFile` the client's secret certificate
    /// (`NAME.key_secret`, as `ferry keygen` or pyzmq's `zmq.auth` writes it).
    public init(serverKey: String, clientKeyFile: String) throws(FerryError) {
        let serverPublicKey: String
        if Z85.decodeKey(serverKey) != nil {
            serverPublicKey = serverKey
        } else {
            do {
                serverPublicKey = try CurveCertificate.load(path: serverKey).publicKey
            } catch {
                throw FerryError(.invalidKey, "server key: neither 40 characters of Z85 nor a certificate file: \(error.message)")
            }
        }
        let certificate: CurveCertificate
        do {
            certificate = try CurveCertificate.load(path: clientKeyFile)
        } catch {
            throw FerryError(.invalidKey, "client key: \(error.message)")
        }
        guard let secretKey = certificate.secretKey else {
            throw FerryError(.invalidKey, "client key: \(clientKeyFile) holds no secret key (give the NAME.key_secret file)")
        }
        try self.init(serverPublicKey: serverPublicKey, publicKey: certificate.publicKey, secretKey: secretKey)
    }

    /// The environment's keys: `FERRY_SERVER_KEY` (Z85 text or the server's public
    /// certificate file) and `FERRY_CLIENT_KEY_FILE` (the client's secret certificate file);
    /// nil when neither is set, an error when only one is.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(FerryError)
        -> ClientSecurity?
    {
        let serverKey = environment["FERRY_SERVER_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        let clientKeyFile = environment["FERRY_CLIENT_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        switch (serverKey, clientKeyFile) {
        case (nil, nil): return nil
        case (let serverKey?, let clientKeyFile?): return try ClientSecurity(serverKey: serverKey, clientKeyFile: clientKeyFile)
        case (nil, _?): throw FerryError(.invalidKey, "FERRY_CLIENT_KEY_FILE is set but FERRY_SERVER_KEY is not")
        case (_?, nil): throw FerryError(.invalidKey, "FERRY_SERVER_KEY is set but FERRY_CLIENT_KEY_FILE is not")
        }
    }
}
