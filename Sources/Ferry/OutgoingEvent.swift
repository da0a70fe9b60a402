import FerryProtocol
public import Foundation

/// Builds wire envelopes from typed events.
enum OutgoingEvent {
    static func make<E: EventRepresentable>(
        _ event: E, id: String, key: String?, headers: [String: String], correlationID: String?, causationID: String?
    ) throws(FerryError) -> WireEvent {
        let payload: Data
        do {
            payload = try event.encodePayload()
        } catch {
            throw FerryError(.serialization, "\(E.typeName) does not encode: \(error)")
        }
        var wire = WireEvent()
        wire.topic = E.topic
        wire.id = id
        wire.key = key ?? event.eventKey ?? ""
        wire.headers = headers
        wire.contentType = E.contentType
        wire.payload = payload
        wire.type = E.typeName
        wire.schemaVersion = E.schemaVersion
        // A root event starts its own correlation chain.
        wire.correlationID = correlationID ?? id
        wire.causationID = causationID ?? ""
        wire.createdAtUs = Int64(Date().timeIntervalSince1970 * 1_000_000)
        return wire
    }
}

/// What ferryd confirmed for one published event.
public struct PublishReceipt: Sendable, Equatable {
    public let eventID: String
    public let topic: String
    /// The event's offset in its topic (the original's, for a deduplicated republish); 0 for an
    /// event scheduled for later, which has no offset until it is due.
    public let offset: UInt64
    /// When a scheduled event is due (``PublishSchedule``); nil for an event appended at once.
    public var scheduledFor: Date? = nil
    /// A scheduled event with this topic and id was confirmed before: this is the same event.
    public var wasScheduledBefore = false
}
