import CNATS

#if canImport(Glibc)
    import Glibc
#endif

/// A JetStream key-value bucket: values with a revision, and writes conditional on it. Ferry
/// keeps its leadership lease and group state here; a conditional update is how a writer proves
/// it still holds what it read.
public final class KeyValueBucket: @unchecked Sendable {
    // @unchecked: a libnats kvStore is safe to use from any thread; set once, freed in deinit.
    private let store: OpaquePointer
    public let bucket: String
    /// Kept alive while the bucket is used.
    private let connection: NATSConnection

    init(store: OpaquePointer, bucket: String, connection: NATSConnection) {
        self.store = store
        self.bucket = bucket
        self.connection = connection
    }

    deinit { kvStore_Destroy(store) }

    /// A value and the revision that wrote it.
    public struct Entry: Sendable, Equatable {
        public let value: [UInt8]
        public let revision: UInt64

        public init(value: [UInt8], revision: UInt64) {
            self.value = value
            self.revision = revision
        }
    }

    /// The current value of `key`, or nil when it has none (never written, or deleted).
    public func get(_ key: String) throws(NATSError) -> Entry? {
        var entry: OpaquePointer?
        let status = kvStore_Get(&entry, store, key)
        if status == NATS_NOT_FOUND { return nil }
        try check(status, "reading \(bucket)/\(key)")
        defer { kvEntry_Destroy(entry) }
        let length = Int(kvEntry_ValueLen(entry))
        let value = kvEntry_Value(entry).map { [UInt8](UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
        return Entry(value: value, revision: kvEntry_Revision(entry))
    }

    /// Writes `key` only if it has no value; returns the new revision. Throws (JetStream's
    /// "wrong last sequence") when another writer created it first.
    public func create(_ key: String, value: [UInt8]) throws(NATSError) -> UInt64 {
        var revision: UInt64 = 0
        let status = value.withUnsafeBytes { bytes in
            kvStore_Create(&revision, store, key, bytes.baseAddress, Int32(bytes.count))
        }
        try check(status, "creating \(bucket)/\(key)")
        return revision
    }

    /// Writes `key` only if its current revision is `expected`; returns the new revision.
    /// Throws when someone else wrote it since.
    public func update(_ key: String, value: [UInt8], expectedRevision expected: UInt64) throws(NATSError) -> UInt64 {
        var revision: UInt64 = 0
        let status = value.withUnsafeBytes { bytes in
            kvStore_Update(&revision, store, key, bytes.baseAddress, Int32(bytes.count), expected)
        }
        try check(status, "updating \(bucket)/\(key) at revision \(expected)")
        return revision
    }
}
