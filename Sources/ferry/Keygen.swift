import ArgumentParser
import Foundation
import Ferry

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
        let files: KeyFiles
        do {
            files = try KeyFiles.generate(name: name, directory: dir, overwrite: force)
        } catch {
            throw CLIFailure(ExitCodes.rejected, error.message).report()
        }
        print("""
            wrote \(files.secretFile) (secret, mode 0600) and \(files.publicFile) (public)
            public key: \(files.publicKey)
            for the credentials file:
              - name: \(name)
                keys: ["\(files.publicKey)"]
            """)
    }
}
