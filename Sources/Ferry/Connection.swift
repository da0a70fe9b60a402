import FerryProtocol
import FerryRuntime
import Foundation
import Logging
import Synchronization
import ZeroMQ

/// One session with ferryd: a DEALER socket owned by a dedicated I/O thread.
///
/// Tasks never touch the socket. They queue commands on its ``LoopThread``; the I/O thread
/// coalesces what piled up (publishes into one Publish, acks and nacks into one Settle),
/// sends it, and completes callers when replies arrive. Deliveries are handed to the
/// subscription's sink on the I/O thread, which must only enqueue them.
final class Connection: Sendable {
    typealias Reply = @Sendable (Result<ServerMessage.OneOf_Reply, FerryError>) -> Void
    typealias PublishCompletion = @Sendable ([Result<UInt64, FerryError>]) -> Void
    typealias DeliverySink = @Sendable ([Delivery]) -> Void
    /// Told when a subscription ends for good with its session (see ``ClientConfiguration/autoResume``).
    typealias EndHandler = @Sendable (FerryError) -> Void

    enum Command: Sendable {
        case request(ClientMessage.OneOf_Command, Reply)
        case subscribe(Subscribe, DeliverySink, EndHandler?, Reply)
        case publish([WireEvent], PublishCompletion)
        case settle(acks: [UInt64], nacks: [Nack])
        case close
    }

    let configuration: ClientConfiguration
    let logger: Logger
    private let thread: LoopThread<Command>
    /// The I/O thread's queue (kept here too, so a command costs what a push costs).
    let commands: WakeupQueue<Command>
    /// Fired when the session ended for good (a broker restart without ``ClientConfiguration/autoResume``).
    let ended = StopSignal()
    private let endReason = Mutex<FerryError?>(nil)

    /// Why the session ended for good, if it did.
    var endError: FerryError? { endReason.withLock { $0 } }

    /// Connects (in the background, as ZeroMQ does) and greets the broker.
    init(configuration: ClientConfiguration, logger: Logger) throws(FerryError) {
        self.configuration = configuration
        self.logger = logger
        thread = LoopThread(name: "ferry-io")
        commands = thread.commands
        do {
            try thread.start { [self] (ready: (()) -> Void) in try run(ready: ready) }
        } catch {
            throw FerryError(.transport, "\(error)")
        }
    }

    // MARK: - API for tasks

    func request(_ command: ClientMessage.OneOf_Command) async throws(FerryError) -> ServerMessage.OneOf_Reply {
        try await withCheckedContinuation { (continuation: CheckedContinuation<Result<ServerMessage.OneOf_Reply, FerryError>, Never>) in
            commands.push(.request(command, { continuation.resume(returning: $0) }))
        }.get()
    }

    func subscribe(_ subscribe: Subscribe, onEnd: EndHandler? = nil, sink: @escaping DeliverySink) async throws(FerryError) -> Subscribed {
        let reply = try await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<ServerMessage.OneOf_Reply, FerryError>, Never>) in
            commands.push(.subscribe(subscribe, sink, onEnd, { continuation.resume(returning: $0) }))
        }.get()
        guard case .subscribed(let subscribed) = reply else {
            throw FerryError(.unexpectedReply, "expected Subscribed, got \(reply)")
        }
        return subscribed
    }

    /// Publishes events; each result is the stored offset or the reason it was rejected.
    func publish(_ events: [WireEvent]) async -> [Result<UInt64, FerryError>] {
        await withCheckedContinuation { continuation in
            commands.push(.publish(events, { continuation.resume(returning: $0) }))
        }
    }

    func settle(acks: [UInt64] = [], nacks: [Nack] = []) {
        commands.push(.settle(acks: acks, nacks: nacks))
    }

    /// Says goodbye and stops the I/O thread; pending requests fail with ``FerryError/Code/closed``.
    func close() async {
        await thread.stop(sending: .close)
    }

    // MARK: - I/O thread

    /// Connects, tells ``init(configuration:logger:)`` it did, then runs the session until it closes.
    private func run(ready: (()) -> Void) throws(ZMQError) {
        let session = try Session(configuration: configuration, logger: logger) { [self] error in
            endReason.withLock { $0 = error }
            ended.fire()
        }
        ready(())
        session.loop(commands: commands)
    }
}
