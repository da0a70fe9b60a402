public import FerryProtocol

extension RawClient {
    /// A reply other than the one a request expects (or none in time).
    public struct UnexpectedReply: Error, CustomStringConvertible {
        public let reply: ServerMessage?
        public init(reply: ServerMessage?) { self.reply = reply }
        public var description: String { "unexpected reply: \(reply.map { "\($0)" } ?? "none in time")" }
    }

    /// Subscribes and returns the broker's `Subscribed`.
    public func subscribe(_ command: ClientMessage.OneOf_Command) throws -> Subscribed {
        try send(command)
        let reply = try receive()
        guard case .subscribed(let subscribed)? = reply?.reply else { throw UnexpectedReply(reply: reply) }
        return subscribed
    }

    /// Publishes one event (with an empty payload) without waiting for its confirm.
    public func publish(topic: String, id: String) throws {
        var item = PublishItem()
        item.sequence = 1
        item.event.topic = topic
        item.event.id = id
        var publish = Publish()
        publish.items = [item]
        try send(.publish(publish))
    }

    /// Asks for `Stats`, skipping deliveries and other unsolicited messages that arrive first.
    public func stats() throws -> Stats {
        try send(.stats(StatsRequest()))
        while true {
            let reply = try receive()
            guard let reply else { throw UnexpectedReply(reply: nil) }
            if case .stats(let stats) = reply.reply { return stats }
        }
    }
}
