/// Something the broker reacts to, handed to ``Broker/handle(_:at:)`` with the time it happened.
///
/// Together with the time, these are the broker's only inputs: what it does in answer (frames
/// for ``Broker/sendOutbox(_:)``, writes to its store, the next wake-up) follows from them, so a
/// test can drive it as the server does, with a manual clock.
public enum BrokerInput {
    /// A message read from the socket: the sender's routing id, how many frames followed it, and
    /// frames 1 and 2 (signature and body; empty when absent).
    /// `userID` is the identity the ZAP handler gave the connection (its client key, in Z85),
    /// nil without CURVE.
    case message(
        routingID: [UInt8], frameCount: Int, signature: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer,
        userID: UnsafeRawBufferPointer? = nil)
    /// The operator's credentials were reloaded: sessions of removed keys end, and subscriptions
    /// no longer granted end.
    case credentialsChanged(Credentials)
    /// The log's sync descriptor became readable: events may have become durable.
    case eventsSynced
    /// The group-state store's descriptor became readable: saved state may be on disk.
    case groupStateSynced
    /// The socket no longer knows this routing id's connection (its process died, or it left).
    case peerUnreachable(routingID: [UInt8])
    /// Begin a graceful shutdown: no new publishes or deliveries; in-flight ones may settle
    /// within the configured grace period.
    case shutdown
    /// Trace searches have answers (``Broker/traceAnswerDescriptor`` became readable).
    case traceAnswered
    /// The scheduler has answers: events stored or cancelled, or due events to append
    /// (``Broker/scheduleAnswerDescriptor`` became readable).
    case scheduleAnswered
    /// The end of a pass over what arrived (or a wake-up with nothing arrived): dispatch
    /// deliveries and due retries, run timers, start fsyncs and save group state.
    case passEnded
}
