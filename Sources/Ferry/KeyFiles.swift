import Foundation
import ZeroMQ

/// A fresh CURVE key pair written as ZeroMQ certificate files: `NAME.key` (public, mode 0644)
/// and `NAME.key_secret` (both keys, mode 0600). What `ferry keygen` writes, for tools that set
/// up keys themselves (a demo, a test, a provisioning script in Swift).
public struct KeyFiles: Sendable {
    public let name: String
    public let publicKey: String
    public let publicFile: String
    public let secretFile: String

    /// Generates a key pair for `name` and writes its two files in `directory` (created if
    /// missing). Existing files are kept unless `overwrite`; then it throws
    /// ``FerryError/Code/invalidKey``.
    public static func generate(name: String, directory: String, overwrite: Bool = false) throws(FerryError) -> KeyFiles {
        let folder = URL(fileURLWithPath: directory)
        let publicFile = folder.appendingPathComponent("\(name).key").path
        let secretFile = folder.appendingPathComponent("\(name).key_secret").path
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw FerryError(.invalidKey, "cannot create \(directory): \(error.localizedDescription)")
        }
        for path in [publicFile, secretFile] where !overwrite && FileManager.default.fileExists(atPath: path) {
            throw FerryError(.invalidKey, "\(path) exists; pass --force to replace it")
        }
        let certificate: CurveCertificate
        do {
            certificate = try CurveCertificate.generate(metadata: ["principal": name])
        } catch {
            throw FerryError(.transport, "zmq_curve_keypair failed: \(error)")
        }
        try write(certificate.text(includingSecret: true), to: secretFile, mode: 0o600)
        try write(certificate.text(includingSecret: false), to: publicFile, mode: 0o644)
        return KeyFiles(name: name, publicKey: certificate.publicKey, publicFile: publicFile, secretFile: secretFile)
    }

    /// Writes through a temporary file created with `mode`, so that a secret is never readable
    /// by others, not even for a moment, and a crash leaves no half-written key.
    private static func write(_ text: String, to path: String, mode: mode_t) throws(FerryError) {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw FerryError(.invalidKey, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        fchmod(descriptor, mode)
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == bytes.count, synced == 0, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw FerryError(.invalidKey, "cannot write \(path): \(reason)")
        }
    }
}
