/// The broker's authentication state: the credentials in force and their generation, which
/// tells a peer that the principal it resolved earlier must be looked up again.
final class BrokerSecurity {
    private(set) var credentials: Credentials
    private(set) var generation = 0

    init(credentials: Credentials) {
        self.credentials = credentials
    }

    func replace(with credentials: Credentials) {
        self.credentials = credentials
        generation += 1
    }
}
