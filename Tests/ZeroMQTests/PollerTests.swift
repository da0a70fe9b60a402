import Testing
import ZeroMQ

@Suite("ZeroMQ poller", .timeLimit(.minutes(1)))
struct PollerTests {
    @Test("a socket is readable exactly while a message is queued")
    func socketReadability() throws {
        let context = try Context()
        let (a, b) = try pair(context, "poll-socket")
        var poller = Poller()
        let index = poller.addReadable(b)
        #expect(index == 0)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        #expect(!poller.isReadable(index))

        try a.send([1])
        #expect(try poller.poll(timeoutMilliseconds: 5_000) == 1)
        #expect(poller.isReadable(index))

        #expect(bytes(try #require(try b.receiveMultipart(dontWait: true))) == [[1]])
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        #expect(!poller.isReadable(index))
    }

    @Test("a WakeupQueue's descriptor is readable after a push and not after a drain")
    func wakeupReadability() throws {
        let queue = WakeupQueue<Int>()
        var poller = Poller()
        let index = poller.addReadable(fileDescriptor: queue.fileDescriptor)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        #expect(!poller.isReadable(index))

        queue.push(1)
        queue.push(2)
        #expect(try poller.poll(timeoutMilliseconds: 5_000) == 1)
        #expect(poller.isReadable(index))
        #expect(queue.drain() == [1, 2])
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        #expect(!poller.isReadable(index))

        queue.push(contentsOf: [])
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0, "pushing nothing must not wake the loop")
        queue.push(contentsOf: [3, 4])
        #expect(try poller.poll(timeoutMilliseconds: 5_000) == 1)
        #expect(queue.drain() == [3, 4])
    }

    @Test("with several items, only the ready ones report readable")
    func mixedItems() throws {
        let context = try Context()
        let (a, b) = try pair(context, "poll-mixed")
        let (c, d) = try pair(context, "poll-mixed-2")
        let queue = WakeupQueue<String>()
        var poller = Poller()
        let socketB = poller.addReadable(b)
        let wakeup = poller.addReadable(fileDescriptor: queue.fileDescriptor)
        let socketD = poller.addReadable(d)
        #expect([socketB, wakeup, socketD] == [0, 1, 2])

        queue.push("wake")
        #expect(try poller.poll(timeoutMilliseconds: 5_000) == 1)
        #expect(!poller.isReadable(socketB))
        #expect(poller.isReadable(wakeup))
        #expect(!poller.isReadable(socketD))
        #expect(queue.drain() == ["wake"])

        try c.send([2])
        try a.send([1])
        #expect(try poller.poll(timeoutMilliseconds: 5_000) >= 1)
        // Both sends completed synchronously over inproc, so both are ready by now.
        #expect(try poller.poll(timeoutMilliseconds: 0) == 2)
        #expect(poller.isReadable(socketB))
        #expect(!poller.isReadable(wakeup))
        #expect(poller.isReadable(socketD))
    }

    @Test("a poll with nothing ready waits for its timeout")
    func timeout() throws {
        let queue = WakeupQueue<Int>()
        var poller = Poller()
        poller.addReadable(fileDescriptor: queue.fileDescriptor)
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try poller.poll(timeoutMilliseconds: 100) == 0)
        #expect(clock.now - start >= .milliseconds(90))
    }
}
