import FerryStorage

/// An event whose body is `size` bytes, each equal to `fill`.
func newEvent(_ fill: UInt8 = 0, size: Int = 1, key: String = "", timestamp: Int64 = 0) -> NewEvent {
    NewEvent(key: key, timestampMicros: timestamp, body: [UInt8](repeating: fill, count: size))
}

/// An 8-byte body encoding `value`, so a read can prove which event it returned.
func body(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

func value(_ body: [UInt8]) -> UInt64? {
    guard body.count == 8 else { return nil }
    return body.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
}

func storageErrorCode(_ body: () throws -> Void) -> StorageError.Code? {
    do {
        try body()
        return nil
    } catch let error as StorageError {
        return error.code
    } catch {
        return nil
    }
}
