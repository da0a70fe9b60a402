import ArgumentParser
import Foundation
import ZeroMQ

/// `ferry keygen NAME`: a CURVE key pair for ferryd or for one client principal.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair: NAME.key (public) and NAME.key_secret (secret, mode 0600).",
        discussion: """
            For ferryd: ferry keygen ferryd --dir keys, then ferryd --curve-secret-key-file keys/ferryd.key_secret \
            --credentials credentials.yaml; clients get keys/ferryd.key (or the public key it prints) as their server key.
            For a client: ferry keygen email-worker --dir keys, then add the printed lines to the credentials file \
            and give the client keys/email-worker.key_secret (--client-key-file or FERRY_CLIENT_KEY_FILE).
            The files are ZeroMQ certificates, as czmq's zcert and pyzmq's zmq.auth read and write them.
            """)

    @Argument(help: "The principal (or server) the keys are for: 1-64 characters of A-Z a-z 0-9 _ . -")
    var name: String

    @Option(name: .long, help: "Directory to write the files in (created if missing).")
    var dir = "."

    @Flag(name: .long, help: "Overwrite existing files.")
    var force = false

    func validate() throws {
        let valid =
            (1...64).contains(name.utf8.count)
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_.-".unicodeScalars.contains($0)) }
        guard valid, name != ".", name != ".." else { throw ValidationError("NAME must be 1-64 characters of A-Z a-z 0-9 _ . -") }
    }

    func run() throws {
        let directory = URL(fileURLWithPath: dir)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let publicPath = directory.appendingPathComponent("\(name).key").path
        let secretPath = directory.appendingPathComponent("\(name).key_secret").path
        for path in [publicPath, secretPath] where !force && FileManager.default.fileExists(atPath: path) {
            throw CLIFailure(ExitCodes.rejected, "\(path) exists; pass --force to replace it").report()
        }
        let certificate = try CurveCertificate.generate(metadata: ["principal": name])
        try write(certificate.text(includingSecret: true), to: secretPath, mode: 0o600)
        try write(certificate.text(includingSecret: false), to: publicPath, mode: 0o644)
        print("""
            wrote \(secretPath) (secret, mode 0600) and \(publicPath) (public)
            public key: \(certificate.publicKey)
            for the credentials file:
              - name: \(name)
                keys: ["\(certificate.publicKey.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))"]
            """)
    }

    /// Creates the file with `mode` from the start, so the secret is never readable by others.
    private func write(_ text: String, to path: String, mode: mode_t) throws {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw CLIFailure(ExitCodes.rejected, "cannot create \(temporary): \(String(cString: strerror(errno)))").report() }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        fchmod(descriptor, mode)
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == bytes.count, synced == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CLIFailure(ExitCodes.rejected, "cannot write \(path): \(String(cString: strerror(errno)))").report()
        }
    }
}
