#if canImport(Glibc)
    import Glibc
#endif

/// An open segment file. Shared by the log (appends, reads) and the syncer (fsync), and
/// closed when the last of them lets go.
final class SegmentFile: @unchecked Sendable {
    // @unchecked: the descriptor is immutable; pwrite/pread/fdatasync are safe to call concurrently.
    let descriptor: Int32
    let path: String

    init(path: String) throws(StorageError) {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StorageError.posix("open \(path)") }
        self.path = path
    }

    deinit { close(descriptor) }

    var size: Int {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Writes all of `bytes` at `position`.
    func write(_ bytes: [UInt8], at position: Int) throws(StorageError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                pwrite(descriptor, raw.baseAddress! + written, raw.count - written, off_t(position + written))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw StorageError.posix("write \(path)")
            }
            written += result
        }
    }

    /// Reads up to `count` bytes at `position`.
    func read(count: Int, at position: Int) throws(StorageError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let result = buffer.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + filled, count - filled, off_t(position + filled))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw StorageError.posix("read \(path)")
            }
            if result == 0 { break }
            filled += result
        }
        if filled < count { buffer.removeLast(count - filled) }
        return buffer
    }

    func truncate(to size: Int) throws(StorageError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw StorageError.posix("truncate \(path)") }
    }

    /// Flushes written data to the disk.
    func sync() throws(StorageError) {
        guard fdatasync(descriptor) == 0 else { throw StorageError.posix("fdatasync \(path)") }
    }
}

extension StorageError {
    /// The error for a failed system call, from `errno`: `.full` for ENOSPC/EDQUOT.
    static func posix(_ operation: String) -> StorageError {
        let code = errno
        let text = String(cString: strerror(code))
        return StorageError(code == ENOSPC || code == EDQUOT ? .full : .io, "\(operation): \(text) (errno \(code))")
    }
}
