import Dispatch
import Synchronization

/// A named dedicated thread that runs one loop, fed by a queue of commands, and a way to stop it
/// and wait until it has: what Ferry's long-lived threads (the broker loop, a connection's socket
/// thread, the fsync, group-state and runway threads) share.
///
/// The owner pushes commands on ``commands`` from any thread, exactly as on a bare
/// ``WakeupQueue`` (nothing is added per command), and its loop drains them. Each owner has its
/// own command that ends the loop; ``stop(sending:)`` sends it once, however often it is called,
/// and waits until the loop has returned, blocking the caller or suspending it (the `async`
/// form). A loop that must finish setting up before its owner can be used (bind a socket, say)
/// is started with the `start` whose loop is handed a `ready` callback, which returns what the loop
/// hands to `ready`, or throws what it threw before.
public final class LoopThread<Command: Sendable>: Sendable {
    private enum Phase {
        case idle
        case running(waiters: [CheckedContinuation<Void, Never>])
        case ended
    }

    /// The thread's name, as `top -H` and `ps -L` show it (the kernel keeps 15 bytes).
    public let name: String
    /// The queue the loop drains; push commands here.
    public let commands = WakeupQueue<Command>()
    private let stackSize: Int?
    private let phase = Mutex(Phase.idle)
    /// Left when the loop returns: blocking waiters wait on it.
    private let running = DispatchGroup()
    private let stopSent = Atomic<Bool>(false)

    /// A thread named `name`, not started yet.
    public init(name: String, stackSize: Int? = nil) {
        self.name = name
        self.stackSize = stackSize
    }

    /// Whether ``requestStop(sending:)`` (or a stop) was called: a loop that runs long jobs checks
    /// it between them to end sooner.
    public var isStopRequested: Bool { stopSent.load(ordering: .relaxed) }

    /// Starts the thread running `loop` and returns at once. Call it once.
    public func start(_ loop: @escaping @Sendable () -> Void) {
        begin()
        DedicatedThread.start(name: name, stackSize: stackSize) { [self] in
            loop()
            end()
        }
    }

    /// Starts the thread running `loop` and waits until the loop calls `ready` (returning the
    /// value it passes) or throws (rethrowing the error; the thread has ended then). An error
    /// thrown after `ready` ends the loop and is dropped: log it in `loop`. Call it once.
    public func start<Ready: Sendable>(_ loop: @escaping @Sendable (_ ready: (Ready) -> Void) throws -> Void) throws -> Ready {
        let handshake = Handshake<Ready>()
        begin()
        DedicatedThread.start(name: name, stackSize: stackSize) { [self] in
            do {
                try loop { handshake.settle(.success($0)) }
            } catch {
                handshake.settle(.failure(error))
            }
            end()
        }
        return try handshake.wait()
    }

    /// Sends `command` (the one that ends the loop) unless a stop was sent before, and returns
    /// at once.
    public func requestStop(sending command: Command) {
        if stopSent.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged {
            commands.push(command)
        }
    }

    /// Sends `command` (the one that ends the loop) unless a stop was sent before, and blocks
    /// until the loop has returned.
    public func stop(sending command: Command) {
        requestStop(sending: command)
        waitUntilStopped()
    }

    /// Sends `command` (the one that ends the loop) unless a stop was sent before, and returns
    /// once the loop has returned.
    public func stop(sending command: Command) async {
        requestStop(sending: command)
        await waitUntilStopped()
    }

    /// Blocks until the loop has returned; at once if it has, or if the thread never started.
    public func waitUntilStopped() {
        running.wait()
    }

    /// Returns once the loop has returned; at once if it has, or if the thread never started.
    public func waitUntilStopped() async {
        await withCheckedContinuation { continuation in
            let waiting = phase.withLock { phase in
                guard case .running(let waiters) = phase else { return false }
                phase = .running(waiters: waiters + [continuation])
                return true
            }
            if !waiting { continuation.resume() }
        }
    }

    private func begin() {
        phase.withLock { phase in
            guard case .idle = phase else { preconditionFailure("\(name) started twice") }
            phase = .running(waiters: [])
        }
        running.enter()
    }

    private func end() {
        let waiters = phase.withLock { phase in
            defer { phase = .ended }
            guard case .running(let waiters) = phase else { return [CheckedContinuation<Void, Never>]() }
            return waiters
        }
        running.leave()
        for waiter in waiters { waiter.resume() }
    }
}

/// What a starting loop reports to the thread that started it: the first outcome counts.
private final class Handshake<Ready: Sendable>: Sendable {
    private let outcome = Mutex<Result<Ready, any Error>?>(nil)
    private let settled = DispatchSemaphore(value: 0)

    func settle(_ result: Result<Ready, any Error>) {
        let first = outcome.withLock { outcome in
            guard outcome == nil else { return false }
            outcome = result
            return true
        }
        if first { settled.signal() }
    }

    func wait() throws -> Ready {
        settled.wait()
        return try outcome.withLock { $0! }.get()
    }
}
