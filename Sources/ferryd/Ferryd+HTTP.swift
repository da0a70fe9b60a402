import ArgumentParser
import Ferry
import FerryHTTP
import Logging
import ZeroMQ

extension Ferryd {
    /// Where HTTP listens when neither flag nor file says.
    static let defaultHTTPAddress = "127.0.0.1:7480"

    /// The HTTP listener's address, nil when it is `off`. Off loopback it needs security: the
    /// HTTP side then authenticates every principal as the ZeroMQ side does.
    func httpAddress(file: FileConfiguration?, protected: Bool) throws -> HTTPListener.Address? {
        let text = httpEndpoint ?? file?.httpEndpoint ?? Self.defaultHTTPAddress
        guard text != "off" else { return nil }
        let address = try HTTPListener.Address(text)
        guard address.isLoopback || protected else {
            throw ValidationError(
                """
                refusing to serve HTTP at \(text) without security: anyone who reaches it could publish, consume and purge. \
                Start with --curve-secret-key-file and --credentials (principals sign in with their http_passwords), \
                or keep HTTP on loopback.
                """)
        }
        return address
    }

    /// The API and console: a client of this broker, connecting as each principal with its
    /// gateway key (with security), or as the one local identity (without).
    func makeGateway(
        endpoint: BrokerEndpoint, serverPublicKey: String?, gatewayKeys: GatewayKeys, logins: HTTPLogins, credentials: CurrentCredentials,
        logger: Logger
    ) -> HTTPGateway {
        let clients = BrokerClients(logger: logger) { principal throws(FerryError) in
            let endpoint = await endpoint.value()
            guard let serverPublicKey else { return BrokerClients.Target(endpoint: endpoint, security: nil) }
            guard let pair = gatewayKeys.pair(for: principal) else {
                throw FerryError(.invalidKey, "no key pair could be made for principal '\(principal)'")
            }
            return BrokerClients.Target(
                endpoint: endpoint,
                security: try ClientSecurity(serverPublicKey: serverPublicKey, publicKey: pair.publicKey, secretKey: pair.secretKey))
        }
        return HTTPGateway(
            clients: clients, mode: serverPublicKey == nil ? .open : .principals(logins), logger: logger,
            mayAdminister: { credentials.mayAdminister(principal: $0, group: $1) })
    }
}
