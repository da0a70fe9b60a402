import FerryProtocol
import FerryRuntime
import Foundation
import Logging
import Synchronization
import ZeroMQ

/// One session with ferryd: a DEALER socket owned by a dedicated I/O thread.
///
/// Tasks never touch the socket. They queue commands on a ``WakeupQueue``; the I/O thread
/// coalesces what piled up (publishes into one Publish, acks and nacks into one Settle),
/// sends it, and completes callers when replies arrive. Deliveries are handed to the
/// subscription's sink on the I/O thread, which must only enqueue them.
final class Connection: Sendable {
    typealias Reply = @Sendable (Result<ServerMessage.OneOf_Reply, FerryError>) -> Void
    typealias PublishCompletion = @Sendable ([Result<PublishOutcome, FerryError>]) -> Void
    typealias DeliverySink = @Sendable ([Delivery]) -> Void
    /// Told when a subscription ends for good with its session (see ``ClientConfiguration/autoResume``).
    typealias EndHandler = @Sendable (FerryError) -> Void

    enum Command: Sendable {
        case request(ClientMessage.OneOf_Command, Reply)
        case subscribe(Subscribe, DeliverySink, EndHandler?, Reply)
        case publish([OutgoingPublish], PublishCompletion)
        case settle(acks: [UInt64], nacks: [Nack])
        case close
    }

    let configuration: ClientConfiguration
    let logger: Logger
    private let thread = LoopThread<Command>(name: "ferry-io")
    /// The I/O thread's queue.
    var commands: WakeupQueue<Command> { thread.commands }
    /// Why the I/O thread could not set up its socket, if it could not: every command fails with it.
    private let startFailure = Mutex<FerryError?>(nil)
    /// Fired by the I/O thread once its socket is set up, or once it knows it cannot be.
    private let started = StopSignal()
    /// Fired when the session ended for good (a broker restart without ``ClientConfiguration/autoResume``).
    let ended = StopSignal()
    private let endReason = Mutex<FerryError?>(nil)

    /// Why the session ended for good, if it did.
    var endError: FerryError? { endReason.withLock { $0 } }

    /// Starts the I/O thread, which connects (in the background, as ZeroMQ does) and greets the
    /// broker. Never waits for the thread: if it cannot set up its socket (an endpoint ZeroMQ
    /// refuses), every call fails with ``FerryError/Code/transport``. ``open(configuration:logger:)``
    /// reports that at once instead.
    init(configuration: ClientConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        thread.start { [self] in run() }
    }

    /// Starts a connection and suspends (blocking no thread) until its I/O thread has set up the
    /// socket; throws ``FerryError/Code/transport`` if it could not.
    static func open(configuration: ClientConfiguration, logger: Logger) async throws(FerryError) -> Connection {
        let connection = Connection(configuration: configuration, logger: logger)
        await connection.started.wait()
        if let failure = connection.startFailure.withLock({ $0 }) {
            await connection.close()
            throw failure
        }
        return connection
    }

    // MARK: - API for tasks

    func request(_ command: ClientMessage.OneOf_Command) async throws(FerryError) -> ServerMessage.OneOf_Reply {
        try await withCheckedContinuation { (continuation: CheckedContinuation<Result<ServerMessage.OneOf_Reply, FerryError>, Never>) in
            enqueue(.request(command, { continuation.resume(returning: $0) }))
        }.get()
    }

    /// Sends a request without waiting: `reply` is called on the I/O thread with the answer, or the
    /// failure (a timeout at the latest).
    func send(_ command: ClientMessage.OneOf_Command, reply: @escaping Reply) {
        enqueue(.request(command, reply))
    }

    func subscribe(_ subscribe: Subscribe, onEnd: EndHandler? = nil, sink: @escaping DeliverySink) async throws(FerryError) -> Subscribed {
        let reply = try await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<ServerMessage.OneOf_Reply, FerryError>, Never>) in
            enqueue(.subscribe(subscribe, sink, onEnd, { continuation.resume(returning: $0) }))
        }.get()
        guard case .subscribed(let subscribed) = reply else {
            throw FerryError(.unexpectedReply, "expected Subscribed, got \(reply)")
        }
        return subscribed
    }

    /// Publishes events; each result is the stored offset (or the due time of an event
    /// scheduled for later), or the reason it was rejected.
    func publish(_ events: [OutgoingPublish]) async -> [Result<PublishOutcome, FerryError>] {
        await withCheckedContinuation { continuation in
            enqueue(.publish(events, { continuation.resume(returning: $0) }))
        }
    }

    func settle(acks: [UInt64] = [], nacks: [Nack] = []) {
        enqueue(.settle(acks: acks, nacks: nacks))
    }

    /// Says goodbye and stops the I/O thread; pending requests fail with ``FerryError/Code/closed``.
    func close() async {
        enqueue(.close)
        await thread.waitUntilStopped()
    }

    /// Queues a command for the I/O thread, or answers it at once if that thread has no session.
    private func enqueue(_ command: Command) {
        // Under the lock, so that no command slips in after the I/O thread drained the queue for good.
        let failure: FerryError? = startFailure.withLock { failure in
            if failure == nil { commands.push(command) }
            return failure
        }
        if let failure { Session.refuse(command, failure) }
    }

    // MARK: - I/O thread

    private func run() {
        do {
            let session = try Session(configuration: configuration, logger: logger) { [self] error in
                endReason.withLock { $0 = error }
                ended.fire()
            }
            started.fire()
            session.loop(commands: commands)
        } catch {
            let failure = FerryError(.transport, "\(error)")
            let queued = startFailure.withLock { state in
                state = failure
                return commands.drain()
            }
            started.fire()
            for command in queued { Session.refuse(command, failure) }
        }
    }
}
