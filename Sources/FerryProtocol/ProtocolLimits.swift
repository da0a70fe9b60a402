import SwiftProtobuf

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
    /// Largest encoded event: the payload plus everything else (headers, ids, key, type), so that
    /// no field can carry what the payload limit keeps out.
    public var maxEventBytes: Int
    /// Largest frame: a longer message is dropped by the socket before it is read, and its
    /// connection with it. A publisher splits batches to stay under it.
    public var maxFrameBytes: Int
    /// Most topic patterns in one Subscribe, and that a durable group follows in all.
    public var maxPatternsPerSubscribe: Int
    public var maxPatternsPerGroup: Int
    /// Most ids in one dead-letter requeue or purge.
    public var maxIDsPerCommand: Int

    /// Furthest ahead an event may be scheduled: 366 days.
    public var maxScheduleDelayMilliseconds: UInt64 = 366 * 24 * 3600 * 1000

    /// Room for an event's fields other than its payload.
    public static let eventOverheadBytes = 64 << 10

    public init(
        maxPayloadBytes: Int = 1 << 20, maxBatch: Int = 4096, maxTopicBytes: Int = 255,
        maxEventIDBytes: Int = 255, maxKeyBytes: Int = 1024, maxGroupBytes: Int = 255,
        maxEventBytes: Int? = nil, maxFrameBytes: Int? = nil, maxPatternsPerSubscribe: Int = 256,
        maxPatternsPerGroup: Int = 1024, maxIDsPerCommand: Int = 10_000
    ) {
        self.maxPayloadBytes = maxPayloadBytes
        self.maxBatch = maxBatch
        self.maxTopicBytes = maxTopicBytes
        self.maxEventIDBytes = maxEventIDBytes
        self.maxKeyBytes = maxKeyBytes
        self.maxGroupBytes = maxGroupBytes
        self.maxEventBytes = maxEventBytes ?? maxPayloadBytes + Self.eventOverheadBytes
        self.maxFrameBytes = maxFrameBytes ?? Self.defaultFrameBytes(maxEventBytes: self.maxEventBytes)
        self.maxPatternsPerSubscribe = maxPatternsPerSubscribe
        self.maxPatternsPerGroup = maxPatternsPerGroup
        self.maxIDsPerCommand = maxIDsPerCommand
    }

    /// 16 MiB, or room for one largest event and its envelope when that is more.
    public static func defaultFrameBytes(maxEventBytes: Int) -> Int { max(16 << 20, maxEventBytes + Self.eventOverheadBytes) }

    /// Derives the event and frame limits from a new payload limit (a configuration that sets
    /// only the payload limit keeps the others in step).
    public mutating func setMaxPayloadBytes(_ bytes: Int) {
        maxPayloadBytes = bytes
        maxEventBytes = bytes + Self.eventOverheadBytes
        maxFrameBytes = Self.defaultFrameBytes(maxEventBytes: maxEventBytes)
    }

    /// Checks an event before it is published or stored.
    public func validate(_ event: WireEvent) throws(ProtocolError) {
        var topic = event.topic
        var id = event.id
        try topic.withUTF8 { topic in
            id.withUTF8 { id in
                Result { () throws(ProtocolError) in
                    try validate(
                        topic: UnsafeRawBufferPointer(topic), id: UnsafeRawBufferPointer(id), keyBytes: event.key.utf8.count,
                        payloadBytes: event.payload.count, eventBytes: ((try? event.serializedBytes()) as [UInt8]?)?.count ?? 0)
                }
            }
        }.get()
    }

    /// Checks an event read in place (``PublishFrame``): its UTF-8 topic and id, its key's,
    /// payload's and whole encoding's sizes.
    public func validate(topic: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer, keyBytes: Int, payloadBytes: Int, eventBytes: Int)
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
        if eventBytes > maxEventBytes {
            throw ProtocolError(
                .payloadTooLarge,
                "the encoded event is \(eventBytes) bytes (payload \(payloadBytes)); the limit for the whole event is \(maxEventBytes)")
        }
    }

    /// Checks the patterns of one Subscribe: how many, not what they say.
    public func validatePatternCount(_ count: Int) throws(ProtocolError) {
        if count > maxPatternsPerSubscribe {
            throw ProtocolError(.batchTooLarge, "subscribe.patterns has \(count) patterns; the limit is \(maxPatternsPerSubscribe)")
        }
    }

    /// Checks the ids of one dead-letter command.
    public func validateIDCount(_ count: Int) throws(ProtocolError) {
        if count > maxIDsPerCommand {
            throw ProtocolError(.batchTooLarge, "the command names \(count) dead-letter ids; the limit is \(maxIDsPerCommand)")
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

extension WireEvent {
    /// At least the event's encoded size, computed without encoding it: each field's bytes plus
    /// the most its tag and length can take. Publishers cut batches to frame limits with it.
    public var encodedSizeBound: Int {
        var size = 3 * 11 + 8 * 6
        size += topic.utf8.count + id.utf8.count + key.utf8.count + contentType.utf8.count + type.utf8.count
        size += correlationID.utf8.count + causationID.utf8.count + payload.count
        for (name, value) in headers { size += name.utf8.count + value.utf8.count + 18 }
        return size
    }
}
