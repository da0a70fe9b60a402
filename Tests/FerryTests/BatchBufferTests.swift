import FerryTestSupport
import Testing

@testable import Ferry

/// The batch cutting rules, driven by instants the test chooses: no test here sleeps.
@Suite("Batch buffer: cut by size, by wait, and at close")
struct BatchBufferTests {
    let start = ContinuousClock.now

    func batch(_ step: BatchBuffer<Int>.Step) -> [Int]? {
        if case .batch(let batch) = step { return batch }
        return nil
    }

    func isWait(_ step: BatchBuffer<Int>.Step) -> Bool {
        if case .wait = step { return true }
        return false
    }

    @Test("full batches are cut at once; the rest waits maxWait from the cut")
    func bySize() {
        let buffer = BatchBuffer<Int>(options: BatchOptions(maxSize: 50, maxWait: .milliseconds(200)))
        #expect(buffer.append(Array(0..<120), now: start))
        #expect(batch(buffer.next(now: start)) == Array(0..<50))
        #expect(batch(buffer.next(now: start)) == Array(50..<100))
        #expect(isWait(buffer.next(now: start)))
        #expect(isWait(buffer.next(now: start + .milliseconds(199))))
        #expect(batch(buffer.next(now: start + .milliseconds(200))) == Array(100..<120))
        #expect(isWait(buffer.next(now: start + .seconds(10))), "nothing pending: nothing to cut")
    }

    @Test("a partial batch is cut maxWait after its first event, with what came meanwhile")
    func byWait() {
        let buffer = BatchBuffer<Int>(options: BatchOptions(maxSize: 50, maxWait: .milliseconds(200)))
        #expect(buffer.append([1, 2, 3], now: start))
        #expect(buffer.append([4, 5], now: start + .milliseconds(150)))
        #expect(isWait(buffer.next(now: start + .milliseconds(199))))
        #expect(batch(buffer.next(now: start + .milliseconds(200))) == [1, 2, 3, 4, 5])
        #expect(buffer.append([6], now: start + .milliseconds(300)))
        #expect(isWait(buffer.next(now: start + .milliseconds(499))), "a new batch's wait starts at its own first event")
        #expect(batch(buffer.next(now: start + .milliseconds(500))) == [6])
    }

    @Test("close hands out what is left, then finishes; later appends are refused")
    func close() {
        let buffer = BatchBuffer<Int>(options: BatchOptions(maxSize: 2, maxWait: .seconds(3600)))
        #expect(buffer.append([1, 2, 3], now: start))
        buffer.close()
        #expect(batch(buffer.next(now: start)) == [1, 2])
        #expect(batch(buffer.next(now: start)) == [3])
        guard case .finished = buffer.next(now: start) else {
            Issue.record("a closed, empty buffer is finished")
            return
        }
        #expect(!buffer.append([4], now: start))
    }

    @Test("the consumer and timer loops end with close and cancellation, not with the pending wait")
    func loopsEnd() async {
        let buffer = BatchBuffer<Int>(options: BatchOptions(maxSize: 2, maxWait: .seconds(3600)))
        let batches = Recorder<[Int]>()
        await withTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                await buffer.consume { batches.append($0) }
                return true
            }
            tasks.addTask {
                await buffer.runTimer()
                return false
            }
            _ = buffer.append([1, 2, 3], now: .now)
            #expect(await Wait.until(timeout: .seconds(10)) { batches.count == 1 }, "a full batch is handed out at once")
            buffer.close()
            // The consumer ends with the leftover; the timer, asleep for an hour, ends when cancelled.
            while let consumerEnded = await tasks.next(), !consumerEnded {}
            tasks.cancelAll()
        }
        #expect(batches.all == [[1, 2], [3]])
    }
}
