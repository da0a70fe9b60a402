/// Size limits a broker enforces and announces in `Welcome`.
public struct ProtocolLimits: Sendable, Equatable {
    /// Largest event payload accepted.
    public var maxPayloadBytes: Int
    /// Most items in one Publish.
    public var maxBatch: Int
    public var maxTopicBytes: Int
    public var maxEventIDBytes: Int
    public var maxKeyBytes: Int
    public var maxGroupBytes: Int

    public init(
        maxPayloadBytes: Int = 1 << 20, maxBatch: Int = 4096, maxTopicBytes: Int = 255,
        maxEventIDBytes: Int = 255, maxKeyBytes: Int = 1024, maxGroupBytes: Int = 255
    ) {
        self.maxPayloadBytes = maxPayloadBytes
        self.maxBatch = maxBatch
        self.maxTopicBytes = maxTopicBytes
        self.maxEventIDBytes = maxEventIDBytes
        self.maxKeyBytes = maxKeyBytes
        self.maxGroupBytes = maxGroupBytes
    }

    /// The largest frame a conforming peer can send with these limits (checked by the socket).
    public var maxFrameBytes: Int64 { Int64(maxPayloadBytes) * Int64(maxBatch) + (16 << 20) }

    /// Checks an event before it is published or stored.
    public func validate(_ event: WireEvent) throws(ProtocolError) {
        var topic = event.topic
        var id = event.id
        try topic.withUTF8 { topic in
            id.withUTF8 { id in
                Result { () throws(ProtocolError) in
                    try validate(
                        topic: UnsafeRawBufferPointer(topic), id: UnsafeRawBufferPointer(id), keyBytes: event.key.utf8.count,
                        payloadBytes: event.payload.count)
                }
            }
        }.get()
    }

    /// Checks an event read in place (``PublishFrame``): its UTF-8 topic and id, its key's and
    /// payload's sizes.
    public func validate(topic: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer, keyBytes: Int, payloadBytes: Int)
        throws(ProtocolError)
    {
        if topic.isEmpty { throw ProtocolError(.missingField, "event.topic is required") }
        try TopicName.validate(topic, maxBytes: maxTopicBytes)
        if id.isEmpty { throw ProtocolError(.missingField, "event.id is required") }
        if id.count > maxEventIDBytes {
            throw ProtocolError(.invalidArgument, "event.id is \(id.count) bytes; the limit is \(maxEventIDBytes)")
        }
        if keyBytes > maxKeyBytes {
            throw ProtocolError(.invalidArgument, "event.key is \(keyBytes) bytes; the limit is \(maxKeyBytes)")
        }
        if payloadBytes > maxPayloadBytes {
            throw ProtocolError(.payloadTooLarge, "payload is \(payloadBytes) bytes; the limit is \(maxPayloadBytes)")
        }
    }

    /// Checks a consumer group name.
    public func validateGroup(_ group: String) throws(ProtocolError) {
        if group.isEmpty { throw ProtocolError(.missingField, "group is required") }
        guard group.utf8.count <= maxGroupBytes, group.utf8.allSatisfy({ TopicName.isTokenByte($0) || $0 == UInt8(ascii: ".") }) else {
            throw ProtocolError(.invalidArgument, "group '\(group)' must be 1-\(maxGroupBytes) bytes of [A-Za-z0-9_.-]")
        }
    }
}
