import FerryProtocol
import FerryWakeup
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
    let commands = WakeupQueue<Command>()
    private let startResult = Mutex<Result<Void, FerryError>?>(nil)
    private let started = DispatchSemaphore(value: 0)
    private let stopped = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    /// Fired when the session ended for good (a broker restart without ``ClientConfiguration/autoResume``).
    let ended = StopSignal()
    private let endReason = Mutex<FerryError?>(nil)

    /// Why the session ended for good, if it did.
    var endError: FerryError? { endReason.withLock { $0 } }

    /// Connects (in the background, as ZeroMQ does) and greets the broker.
    init(configuration: ClientConfiguration, logger: Logger) throws(FerryError) {
        self.configuration = configuration
        self.logger = logger
        DedicatedThread.start(name: "ferry-io") { [self] in run() }
        started.wait()
        try startResult.withLock { $0! }.get()
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
        commands.push(.close)
        await withCheckedContinuation { continuation in
            let done = stopped.withLock { state in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }

    // MARK: - I/O thread

    private func run() {
        do {
            let session = try Session(configuration: configuration, logger: logger) { [self] error in
                endReason.withLock { $0 = error }
                ended.fire()
            }
            startResult.withLock { $0 = .success(()) }
            started.signal()
            session.loop(commands: commands)
        } catch {
            startResult.withLock { $0 = .failure(FerryError(.transport, "\(error)")) }
            started.signal()
        }
        let waiters = stopped.withLock { state in
            state.done = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
