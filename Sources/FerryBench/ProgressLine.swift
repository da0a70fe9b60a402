import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The live progress line on stderr, redrawn in place about once a second:
/// elapsed time, events published, confirmed and consumed (by the slowest group), and the
/// consume rate over the last interval.
final class ProgressLine {
    private var lastDraw: Double = -1
    private var lastConsumed = 0
    private var drawn = false

    /// A progress line when stderr is a terminal and `quiet` is off; nil otherwise.
    static func make(quiet: Bool) -> ProgressLine? {
        quiet || isatty(STDERR_FILENO) == 0 ? nil : ProgressLine()
    }

    func update(_ snapshot: LoadCoordinator.Snapshot, elapsed: Double) {
        guard elapsed - lastDraw >= 1 else { return }
        let rate =
            lastDraw < 0 ? Double(snapshot.consumed) / max(elapsed, 1e-3) : Double(snapshot.consumed - lastConsumed) / (elapsed - lastDraw)
        lastDraw = elapsed
        lastConsumed = snapshot.consumed
        var line = String(
            format: "\r%6.1fs  published %@  confirmed %@  consumed %@  %@ ev/s", elapsed,
            BenchFormat.grouped(snapshot.published), BenchFormat.grouped(snapshot.confirmed), BenchFormat.grouped(snapshot.consumed),
            BenchFormat.grouped(Int(rate)))
        if snapshot.rejected > 0 { line += "  rejected \(BenchFormat.grouped(snapshot.rejected))" }
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
        drawn = true
    }

    /// Ends the line so that what follows starts on a fresh one.
    func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// Number formatting for the bench's human output.
enum BenchFormat {
    /// `1234567` → `1 234 567`.
    static func grouped(_ value: Int) -> String {
        let digits = String(abs(value))
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(" ") }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }
}

/// Turns Ctrl-C into a call of `handler` (the run then winds down and cleans up) instead of
/// killing the process, for as long as it lives.
final class InterruptWatch: @unchecked Sendable {
    // @unchecked: `_fired` is accessed under `lock`; the source is only touched by init and cancel.
    private let source: any DispatchSourceSignal
    private let lock = NSLock()
    private var _fired = false

    init(_ handler: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in
            self?.lock.withLock { self?._fired = true }
            handler()
        }
        source.resume()
    }

    var fired: Bool { lock.withLock { _fired } }

    func cancel() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
