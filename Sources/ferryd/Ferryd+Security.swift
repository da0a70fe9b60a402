import ArgumentParser
import FerryBroker
import Foundation
import FerryHTTP
import Logging
import ZeroMQ

/// CURVE, credentials and protected mode: how ferryd's security options combine.
extension Ferryd {
    /// Where the security settings come from: flags win over the file.
    struct SecuritySettings {
        var secretKeyFile: String?
        var credentialsFile: String?
        var insecure = false
    }

    func securitySettings(file: FileConfiguration?) -> SecuritySettings {
        SecuritySettings(
            secretKeyFile: curveSecretKeyFile ?? file?.security?.curveSecretKeyFile,
            credentialsFile: credentials ?? file?.security?.credentialsFile,
            insecure: insecure || (file?.security?.insecure ?? false))
    }

    /// Puts the server's key and the credentials into `configuration`, or refuses a set-up that
    /// would serve a network without authentication.
    /// Returns ferryd's public key when CURVE is on; fills `logins` with the principals' HTTP
    /// password hashes and gives each principal a key of `gatewayKeys` (for the HTTP side).
    @discardableResult
    func applySecurity(
        _ settings: SecuritySettings, to configuration: inout BrokerConfiguration, gatewayKeys: GatewayKeys, logins: HTTPLogins, logger: Logger
    ) throws -> String? {
        switch (settings.secretKeyFile, settings.credentialsFile) {
        case (let keyFile?, let credentialsFile?):
            let certificate: CurveCertificate
            do {
                certificate = try CurveCertificate.load(path: keyFile)
            } catch {
                throw ValidationError("\(error.message)")
            }
            guard let secretKey = certificate.secretKey else {
                throw ValidationError("\(keyFile) holds no secret key: give ferryd its NAME.key_secret file (ferry keygen writes both)")
            }
            warnIfReadableByOthers(keyFile, logger: logger)
            configuration.curveSecretKey = secretKey
            let contents = try CredentialsFile.load(path: credentialsFile)
            do {
                configuration.credentials = try contents.credentials(extraKey: gatewayKeys.publicKey(for:))
            } catch let error as ConfigurationError {
                throw ConfigurationError(message: "\(credentialsFile): \(error.message)")
            }
            logins.replace(contents.httpPasswords)
            logger.info(
                "CURVE on: connections are encrypted and authenticated",
                metadata: [
                    "serverPublicKey": "\(certificate.publicKey)", "credentials": "\(credentialsFile)",
                    "principals": "\(configuration.credentials?.principals.count ?? 0)",
                ])
            return certificate.publicKey
        case (nil, nil):
            if !Self.isLoopback(configuration.endpoint) {
                guard settings.insecure else {
                    throw ValidationError(
                        """
                        refusing to serve \(configuration.endpoint) without CURVE: any host that reaches it could publish, \
                        consume and purge. Generate keys (ferry keygen ferryd --dir keys; ferry keygen NAME for each client), \
                        list the clients in a credentials file, and start with --curve-secret-key-file keys/ferryd.key_secret \
                        --credentials credentials.yaml; or pass --insecure on a network you trust.
                        """)
                }
                logger.warning("serving a non-loopback endpoint without authentication or encryption (--insecure)")
            }
            return nil
        case (_?, nil):
            throw ValidationError("--curve-secret-key-file needs --credentials: the file that says which client keys may connect")
        case (nil, _?):
            throw ValidationError("--credentials needs --curve-secret-key-file: identities are the client keys CURVE authenticates")
        }
    }

    /// Whether `endpoint` can only be reached from this machine: `ipc://`, `inproc://`, or TCP
    /// on a loopback address.
    static func isLoopback(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        var host = String(endpoint.dropFirst("tcp://".count))
        if let semicolon = host.lastIndex(of: ";") { host = String(host[host.index(after: semicolon)...]) }  // source;destination
        return RequestGuard.isLoopbackHost(host)
    }

    private func warnIfReadableByOthers(_ path: String, logger: Logger) {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o077 != 0 else { return }
        logger.warning(
            "the server's secret key file can be read by other users; chmod 600 it",
            metadata: ["path": "\(path)", "mode": "\(String(info.st_mode & 0o777, radix: 8))"])
    }
}
