import CNATS

#if canImport(Glibc)
    import Glibc
#endif

/// A JetStream stream's settings that Ferry uses.
public struct StreamConfiguration: Sendable {
    public var name: String
    public var subjects: [String]
    /// Servers holding a copy (1, 3 or 5); a write is acknowledged once a quorum has it.
    public var replicas: Int
    /// How long a `Nats-Msg-Id` is remembered for deduplication.
    public var duplicateWindow: Duration
    /// Retention limits; 0 for none.
    public var maxBytes: Int64 = 0
    public var maxAge: Duration = .zero

    public init(name: String, subjects: [String], replicas: Int = 3, duplicateWindow: Duration = .seconds(120)) {
        self.name = name
        self.subjects = subjects
        self.replicas = replicas
        self.duplicateWindow = duplicateWindow
    }
}

/// JetStream's answer to a publish: where the message was stored.
public struct PublishAcknowledgement: Sendable, Equatable {
    public let stream: String
    public let sequence: UInt64
    /// The message id was seen within the duplicate window: nothing new was stored, and
    /// `sequence` is the original's.
    public let duplicate: Bool
}

/// A stored message read back by sequence.
public struct StoredMessage: Sendable, Equatable {
    public let subject: String
    public let data: [UInt8]

    public init(subject: String, data: [UInt8]) {
        self.subject = subject
        self.data = data
    }
}

/// JetStream over a ``NATSConnection``: streams, publishes acknowledged by a quorum, reads by
/// sequence, and key-value buckets. Blocking, as the connection is.
public struct JetStream: Sendable {
    let connection: NATSConnection

    /// Creates the stream, or returns the existing one's state when it is already there with
    /// the same settings. Returns its last sequence.
    @discardableResult
    public func addStream(_ configuration: StreamConfiguration) throws(NATSError) -> UInt64 {
        var config = jsStreamConfig()
        jsStreamConfig_Init(&config)
        let name = strdup(configuration.name)
        defer { free(name) }
        var subjects = configuration.subjects.map { UnsafePointer<CChar>(strdup($0)) }
        defer { for subject in subjects { free(UnsafeMutablePointer(mutating: subject)) } }
        config.Name = UnsafePointer(name)
        config.SubjectsLen = Int32(subjects.count)
        config.Storage = js_FileStorage
        config.Replicas = Int64(configuration.replicas)
        config.Duplicates = Self.nanoseconds(configuration.duplicateWindow)
        config.MaxBytes = configuration.maxBytes > 0 ? configuration.maxBytes : -1
        config.MaxAge = Self.nanoseconds(configuration.maxAge)
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var errorCode = jsErrCode(rawValue: 0)
        let status = subjects.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { pointer in
                config.Subjects = UnsafeMutablePointer(mutating: pointer)
                return js_AddStream(&info, connection.jetStreamContext, &config, nil, &errorCode)
            }
        }
        try check(status, errorCode, "creating stream \(configuration.name)")
        defer { jsStreamInfo_Destroy(info) }
        return info?.pointee.State.LastSeq ?? 0
    }

    /// The stream's last sequence (0 when empty).
    public func lastSequence(stream: String) throws(NATSError) -> UInt64 {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var errorCode = jsErrCode(rawValue: 0)
        try check(js_GetStreamInfo(&info, connection.jetStreamContext, stream, nil, &errorCode), errorCode, "reading stream \(stream)")
        defer { jsStreamInfo_Destroy(info) }
        return info?.pointee.State.LastSeq ?? 0
    }

    /// Publishes `data` on `subject` and waits until JetStream has stored it on a quorum of its
    /// stream's replicas.
    ///
    /// - Parameters:
    ///   - messageID: deduplicates republishes within the stream's duplicate window.
    ///   - expectedLastSequence: refuses the publish (``NATSError/isWrongLastSequence``) unless
    ///     the stream's last message has this sequence (positive: the C client reads 0 as no
    ///     expectation): a writer that lost its lease cannot append after the one that took
    ///     it over.
    public func publish(subject: String, data: [UInt8], messageID: String? = nil, expectedLastSequence: UInt64? = nil)
        throws(NATSError) -> PublishAcknowledgement
    {
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        let id: UnsafeMutablePointer<CChar>? = messageID.flatMap { strdup($0) }
        defer { free(id) }
        options.MsgId = id.map { UnsafePointer($0) }
        if let expectedLastSequence { options.ExpectLastSeq = expectedLastSequence }
        var acknowledgement: UnsafeMutablePointer<jsPubAck>?
        var errorCode = jsErrCode(rawValue: 0)
        let status = data.withUnsafeBytes { bytes in
            js_Publish(&acknowledgement, connection.jetStreamContext, subject, bytes.baseAddress, Int32(bytes.count), &options, &errorCode)
        }
        try check(status, errorCode, "publishing to \(subject)")
        defer { jsPubAck_Destroy(acknowledgement) }
        let ack = acknowledgement!.pointee
        return PublishAcknowledgement(stream: String(cString: ack.Stream), sequence: ack.Sequence, duplicate: ack.Duplicate)
    }

    /// The message stored at `sequence`, or nil when there is none (deleted, or past the end).
    public func message(stream: String, sequence: UInt64) throws(NATSError) -> StoredMessage? {
        var message: OpaquePointer?
        var errorCode = jsErrCode(rawValue: 0)
        let status = js_GetMsg(&message, connection.jetStreamContext, stream, sequence, nil, &errorCode)
        if status == NATS_NOT_FOUND || errorCode.rawValue == 10037 { return nil }
        try check(status, errorCode, "reading \(stream) #\(sequence)")
        defer { natsMsg_Destroy(message) }
        let length = Int(natsMsg_GetDataLength(message))
        let data = natsMsg_GetData(message).map { pointer in
            [UInt8](UnsafeRawBufferPointer(start: pointer, count: length))
        } ?? []
        return StoredMessage(subject: String(cString: natsMsg_GetSubject(message)), data: data)
    }

    /// Creates the key-value bucket (or opens the one there) with `replicas` copies.
    public func keyValue(bucket: String, replicas: Int = 3) throws(NATSError) -> KeyValueBucket {
        var config = kvConfig()
        kvConfig_Init(&config)
        let name = strdup(bucket)
        defer { free(name) }
        config.Bucket = UnsafePointer(name)
        config.Replicas = Int32(replicas)
        config.History = 1
        config.StorageType = js_FileStorage
        var store: OpaquePointer?
        try check(js_CreateKeyValue(&store, connection.jetStreamContext, &config), "creating key-value bucket \(bucket)")
        return KeyValueBucket(store: store!, bucket: bucket, connection: connection)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
