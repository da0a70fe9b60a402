import FerryBroker
import FerryHTTP
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import UnixSignals

/// Reloads the credentials file on SIGHUP and when it changes, and hands a valid one to the
/// broker; a file that does not load is logged and counted, and the credentials in force stay.
///
/// A change is read once the file has stayed the same for one polling interval (a second): a
/// file still being written in place, cut off where a principal ends, would parse and revoke
/// every key after the cut.
final class CredentialsWatcher: Service {
    private let path: String
    private let server: BrokerServer
    private let gatewayKeys: GatewayKeys
    private let logins: HTTPLogins
    private let current: CurrentCredentials
    /// Told the principals in force after a reload (the HTTP side ends what removed ones held).
    private let onReload: @Sendable (Set<String>) async -> Void
    private let logger: Logger
    private let interval: Duration
    private let loaded = Counter(label: "ferry_credentials_reloads_total", dimensions: [("result", "loaded")])
    private let failed = Counter(label: "ferry_credentials_reloads_total", dimensions: [("result", "failed")])

    /// The version of the file loaded at start-up, to compare the first polls with.
    private let loadedAtStart: Version?

    init(
        path: String, server: BrokerServer, gatewayKeys: GatewayKeys, logins: HTTPLogins, current: CurrentCredentials, logger: Logger,
        interval: Duration = .seconds(1),
        onReload: @escaping @Sendable (Set<String>) async -> Void
    ) {
        self.gatewayKeys = gatewayKeys
        self.logins = logins
        self.current = current
        self.onReload = onReload
        self.loadedAtStart = Version(path: path)
        self.path = path
        self.server = server
        self.logger = logger
        self.interval = interval
    }

    /// What identifies one version of the file: a change of any of these is a change.
    private struct Version: Equatable {
        let inode: UInt64
        let size: Int64
        let modified: Int64

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        }
    }

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let path = path
        let interval = interval
        let loadedAtStart = loadedAtStart
        let changes = AsyncStream<String> { continuation in
            let signals = Task {
                for await _ in hangups { continuation.yield("SIGHUP") }
            }
            let polling = Task {
                var loaded = loadedAtStart
                var seen = loaded
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    let current = Version(path: path)
                    // Changed since the last look: it may still be being written; look again.
                    if current != seen {
                        seen = current
                        continue
                    }
                    if current != loaded, current != nil {
                        loaded = current
                        continuation.yield("the file changed")
                    }
                }
            }
            continuation.onTermination = { _ in
                signals.cancel()
                polling.cancel()
            }
        }
        await cancelWhenGracefulShutdown {
            for await reason in changes { await self.reload(because: reason) }
        }
    }

    private func reload(because reason: String) async {
        do {
            let contents = try CredentialsFile.load(path: path)
            let credentials = try contents.credentials(extraKey: gatewayKeys.publicKey(for:))
            server.replaceCredentials(credentials)
            logins.replace(contents.httpPasswords)
            current.replace(credentials)
            await onReload(Set(credentials.principals.map(\.name)))
            loaded.increment()
            logger.info("credentials loaded", metadata: ["path": "\(path)", "reason": "\(reason)", "principals": "\(credentials.principals.count)"])
        } catch {
            failed.increment()
            logger.error(
                "credentials not reloaded; the previous ones stay in force",
                metadata: ["path": "\(path)", "reason": "\(reason)", "error": "\(error)"])
        }
    }
}
