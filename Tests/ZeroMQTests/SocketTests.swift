import Testing
import ZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

// Sockets are confined to the thread that created them, so every test here is synchronous:
// a synchronous test function runs start to finish on one thread.
@Suite("ZeroMQ sockets", .timeLimit(.minutes(1)))
struct SocketTests {
    @Test("PAIR over inproc carries a single frame, readable in place and as a copy")
    func pairSingleFrame() throws {
        let context = try Context()
        let (a, b) = try pair(context, "pair-single")
        #expect(try a.send([1, 2, 3, 250]))
        let frames = try #require(try receive(b))
        #expect(frames.count == 1)
        let frame = frames[0]
        #expect(frame.count == 4)
        #expect(frame.bytes == [1, 2, 3, 250])
        let (first, sum) = frame.withUnsafeBytes { ($0.first, $0.reduce(0) { $0 + Int($1) }) }
        #expect(first == 1)
        #expect(sum == 256)
    }

    @Test("PAIR carries multipart messages both ways, including empty and large frames")
    func pairMultipart() throws {
        let context = try Context()
        let (a, b) = try pair(context, "pair-multipart")
        let large = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let sent: [[UInt8]] = [Array("header".utf8), [], large, [0]]
        #expect(try a.send(multipart: sent))
        let received = try #require(try receive(b))
        #expect(received.count == 4)
        #expect(bytes(received) == sent)
        #expect(received.map(\.count) == [6, 0, 200_000, 1])
        #expect(received[2].withUnsafeBytes { $0.elementsEqual(large) })
        #expect(received[1].withUnsafeBytes { $0.count } == 0)

        // The other direction, built frame by frame through the raw-buffer API.
        let tail: [UInt8] = [9, 8, 7]
        let head = try Array("x".utf8).withUnsafeBytes { (buffer) throws(ZMQError) in try b.send(buffer, more: true) }
        let last = try tail.withUnsafeBytes { (buffer) throws(ZMQError) in try b.send(buffer) }
        #expect(head && last)
        #expect(bytes(try #require(try receive(a))) == [Array("x".utf8), tail])
    }

    @Test("messages arrive in order and one receive takes exactly one message")
    func pairOrdering() throws {
        let context = try Context()
        let (a, b) = try pair(context, "pair-order")
        for index in 0..<50 { try a.send(multipart: [[UInt8(index)], [UInt8(index), 0xAA]]) }
        for index in 0..<50 {
            #expect(bytes(try #require(try receive(b))) == [[UInt8(index)], [UInt8(index), 0xAA]])
        }
        #expect(try b.receiveMultipart(dontWait: true) == nil)
    }

    @Test("withUnsafeBytes rethrows the body's typed error")
    func withUnsafeBytesRethrows() throws {
        struct Stop: Error, Equatable { let count: Int }
        let context = try Context()
        let (a, b) = try pair(context, "pair-rethrow")
        try a.send([1, 2])
        let frame = try #require(try receive(b)?.first)
        #expect(throws: Stop(count: 2)) {
            try frame.withUnsafeBytes { (buffer) throws(Stop) -> Int in throw Stop(count: buffer.count) }
        }
    }

    @Test("DEALER to ROUTER over tcp: the routing id arrives first and the reply is routed back")
    func dealerRouter() throws {
        let context = try Context()
        let router = try Socket(context: context, type: .router)
        try router.setRouterMandatory(true)
        try router.bind("tcp://127.0.0.1:0")
        let endpoint = try router.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let port = try #require(Int(endpoint.dropFirst("tcp://127.0.0.1:".count)))
        #expect(port > 0 && port < 65_536)

        let alice = try Socket(context: context, type: .dealer)
        try alice.setRoutingID(Array("alice".utf8))
        try alice.connect(endpoint)
        let bob = try Socket(context: context, type: .dealer)
        try bob.setRoutingID(Array("bob".utf8))
        try bob.connect(endpoint)

        try alice.send(multipart: [Array("hello".utf8), [0x00, 0xFF]])
        let request = try #require(try receive(router))
        #expect(bytes(request) == [Array("alice".utf8), Array("hello".utf8), [0x00, 0xFF]])
        try bob.send(multipart: [Array("hi".utf8)])
        let other = try #require(try receive(router))
        #expect(bytes(other) == [Array("bob".utf8), Array("hi".utf8)])

        // Reply to alice only: bob must see nothing.
        #expect(try router.send(multipart: [request[0].bytes, Array("reply".utf8)]))
        #expect(bytes(try #require(try receive(alice))) == [Array("reply".utf8)])
        #expect(try receive(bob, timeoutMilliseconds: 200) == nil)
        #expect(try router.send(multipart: [other[0].bytes, Array("for bob".utf8)]))
        #expect(bytes(try #require(try receive(bob))) == [Array("for bob".utf8)])
        #expect(try alice.receiveMultipart(dontWait: true) == nil)
    }

    @Test("a mandatory ROUTER fails with EHOSTUNREACH for an unknown routing id")
    func routerUnknownPeer() throws {
        let context = try Context()
        let router = try Socket(context: context, type: .router)
        try router.setRouterMandatory(true)
        try router.bind("inproc://router-unknown")
        let error = #expect(throws: ZMQError.self) {
            try router.send(multipart: [Array("nobody".utf8), [1]])
        }
        #expect(error?.code == EHOSTUNREACH)
        #expect(error?.operation == "zmq_send")
    }

    @Test("receiveMultipart(dontWait:) returns nil when nothing is queued")
    func receiveDontWaitEmpty() throws {
        let context = try Context()
        let (a, b) = try pair(context, "pair-empty")
        #expect(try b.receiveMultipart(dontWait: true) == nil)
        #expect(try a.receiveMultipart(dontWait: true) == nil)
        try a.send([42])
        #expect(bytes(try #require(try receive(b))) == [[42]])
        #expect(try b.receiveMultipart(dontWait: true) == nil)
    }

    @Test("send(dontWait:) returns false when a PUSH socket has no peer to queue for")
    func sendDontWaitNoPeer() throws {
        let context = try Context()
        let push = try Socket(context: context, type: .push)
        try push.setSendHighWaterMark(1)
        try push.bind("inproc://push-no-peer")
        #expect(try push.send([1], dontWait: true) == false)
        #expect(try push.send(multipart: [[1], [2]], dontWait: true) == false)
    }

    @Test("send(dontWait:) returns false at the high-water mark and succeeds again once the peer reads")
    func sendDontWaitHighWaterMark() throws {
        let context = try Context()
        let push = try Socket(context: context, type: .push)
        try push.setSendHighWaterMark(1)
        try push.bind("inproc://push-hwm")
        let pull = try Socket(context: context, type: .pull)
        try pull.setReceiveHighWaterMark(1)
        try pull.connect("inproc://push-hwm")

        // An inproc pipe holds SNDHWM + RCVHWM = 2 messages; nobody reads, so the third blocks.
        var accepted = 0
        while accepted < 100, try push.send([UInt8(accepted)], dontWait: true) { accepted += 1 }
        #expect(accepted == 2)
        #expect(try push.send(multipart: [[7], [8]], dontWait: true) == false)

        #expect(bytes(try #require(try receive(pull))) == [[0]])
        #expect(bytes(try #require(try receive(pull))) == [[1]])
        #expect(try pull.receiveMultipart(dontWait: true) == nil, "a refused send must not be queued")
        // libzmq processes the reader's "room again" command on a later send (commands are
        // throttled to about one check per millisecond), so retry briefly.
        var resent = false
        for _ in 0..<200 where !resent {
            resent = try push.send([99], dontWait: true)
            if !resent { usleep(5_000) }
        }
        #expect(resent)
        #expect(bytes(try #require(try receive(pull))) == [[99]])
    }

    @Test("a bad endpoint throws a ZMQError carrying errno and the operation")
    func badEndpoint() throws {
        let context = try Context()
        let socket = try Socket(context: context, type: .dealer)
        let bind = #expect(throws: ZMQError.self) { try socket.bind("nonsense://here") }
        #expect(bind?.code == EPROTONOSUPPORT)
        #expect(bind?.operation == "zmq_bind(nonsense://here)")
        #expect(bind?.message == String(cString: strerror(EPROTONOSUPPORT)))
        #expect(bind?.description == "zmq_bind(nonsense://here): \(bind?.message ?? "?") (errno \(EPROTONOSUPPORT))")
        #expect(bind?.isWouldBlock == false)
        #expect(bind?.isContextTerminated == false)

        let connect = #expect(throws: ZMQError.self) { try socket.connect("tcp://127.0.0.1:notaport") }
        #expect(connect?.code == EINVAL)
        #expect(connect?.operation == "zmq_connect(tcp://127.0.0.1:notaport)")
    }

    @Test("binding an endpoint that is in use throws EADDRINUSE")
    func addressInUse() throws {
        let context = try Context()
        let first = try Socket(context: context, type: .router)
        try first.bind("tcp://127.0.0.1:0")
        let endpoint = try first.lastEndpoint
        let second = try Socket(context: context, type: .router)
        let error = #expect(throws: ZMQError.self) { try second.bind(endpoint) }
        #expect(error?.code == EADDRINUSE)
        #expect(error?.operation == "zmq_bind(\(endpoint))")
    }

    @Test("a blocking receive on a shut-down context throws a context-terminated error")
    func contextShutdown() throws {
        let context = try Context()
        let (_, b) = try pair(context, "pair-shutdown")
        context.shutdown()
        let error = #expect(throws: ZMQError.self) { _ = try b.receiveMultipart() }
        #expect(error?.isContextTerminated == true)
        #expect(error?.isWouldBlock == false)
        #expect(error?.operation == "zmq_msg_recv")
    }

    @Test("ZMQError classifies EAGAIN as would-block")
    func wouldBlock() {
        let error = ZMQError(code: EAGAIN, operation: "zmq_send")
        #expect(error.isWouldBlock)
        #expect(!error.isContextTerminated)
        #expect(error.message == String(cString: strerror(EAGAIN)))
    }

    @Test("CURVE is available and key pairs are fresh 40-character Z85 strings")
    func curveKeys() throws {
        #expect(Context.hasCurve)
        #expect(Context.libraryVersion.major == 4)
        let z85 = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")
        let one = try CurveKeyPair.generate()
        let two = try CurveKeyPair.generate()
        for key in [one.publicKey, one.secretKey, two.publicKey, two.secretKey] {
            #expect(key.count == 40)
            #expect(key.utf8.count == 40)
            #expect(key.allSatisfy(z85.contains), "\(key) is not Z85")
        }
        #expect(one.publicKey != one.secretKey)
        #expect(one.publicKey != two.publicKey)
        #expect(one.secretKey != two.secretKey)
    }
}
