import Foundation
import Synchronization
import Testing
import FerryRuntime

@Suite("WakeupQueue", .timeLimit(.minutes(1)))
struct WakeupQueueTests {
    @Test("drain returns pushes in order, then nothing")
    func ordering() {
        let queue = WakeupQueue<Int>()
        #expect(queue.drain() == [])
        queue.push(1)
        queue.push(contentsOf: [2, 3, 4])
        queue.push(5)
        queue.push(contentsOf: [])
        queue.push(contentsOf: [6])
        #expect(queue.drain() == [1, 2, 3, 4, 5, 6])
        #expect(queue.drain() == [])
        queue.push(7)
        #expect(queue.drain() == [7])
    }

    @Test("each queue has its own open, non-blocking descriptor")
    func descriptors() {
        let one = WakeupQueue<Int>()
        let two = WakeupQueue<Int>()
        #expect(one.fileDescriptor >= 0)
        #expect(one.fileDescriptor != two.fileDescriptor)
        let flags = fcntl(one.fileDescriptor, F_GETFL)
        #expect(flags >= 0)
        #expect(flags & O_NONBLOCK != 0)
        #expect(fcntl(one.fileDescriptor, F_GETFD) & FD_CLOEXEC != 0)
    }

    struct Item: Sendable, Equatable {
        let producer: Int
        let sequence: Int
    }

    @Test("many threads pushing concurrently lose nothing and keep each producer's order")
    func concurrentProducers() {
        let producers = 8
        let perProducer = 20_000
        let queue = WakeupQueue<Item>()
        let finished = Atomic<Int>(0)
        for producer in 0..<producers {
            Thread.detachNewThread {
                var sequence = 0
                while sequence < perProducer {
                    if producer % 2 == 0 {
                        queue.push(Item(producer: producer, sequence: sequence))
                        sequence += 1
                    } else {
                        let batch = min(7, perProducer - sequence)
                        queue.push(contentsOf: (sequence..<(sequence + batch)).map { Item(producer: producer, sequence: $0) })
                        sequence += batch
                    }
                }
                finished.add(1, ordering: .releasing)
            }
        }

        // Consume like a loop would: wait for the descriptor, then drain.
        var next = [Int](repeating: 0, count: producers)
        var total = 0
        var outOfOrder = 0
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while total < producers * perProducer, ContinuousClock.now < deadline {
            queue.wait(timeout: .milliseconds(100))
            for item in queue.drain() {
                if item.sequence != next[item.producer] { outOfOrder += 1 }
                next[item.producer] = item.sequence + 1
                total += 1
            }
        }
        while finished.load(ordering: .acquiring) < producers, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        total += queue.drain().count

        #expect(total == producers * perProducer)
        #expect(outOfOrder == 0)
        #expect(next == [Int](repeating: perProducer, count: producers))
        #expect(queue.drain() == [])
    }
}
