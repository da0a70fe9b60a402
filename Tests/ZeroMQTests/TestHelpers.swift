import ZeroMQ

/// Waits up to `timeoutMilliseconds` for `socket` to become readable, then takes one message
/// without blocking. Returns nil on timeout, so a broken test fails instead of hanging.
func receive(_ socket: Socket, timeoutMilliseconds: Int = 5_000) throws -> [Message]? {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: .milliseconds(timeoutMilliseconds))
    var poller = Poller()
    let index = poller.addReadable(socket)
    while clock.now < deadline {
        try poller.poll(timeoutMilliseconds: 50)
        if poller.isReadable(index), let frames = try socket.receiveMultipart(dontWait: true) {
            return frames
        }
    }
    return nil
}

/// The frames of a message as byte arrays.
func bytes(_ frames: [Message]) -> [[UInt8]] { frames.map(\.bytes) }

/// A connected PAIR of sockets over `inproc://name`, owned by the calling thread.
func pair(_ context: Context, _ name: String) throws -> (bound: Socket, connected: Socket) {
    let bound = try Socket(context: context, type: .pair)
    try bound.bind("inproc://\(name)")
    let connected = try Socket(context: context, type: .pair)
    try connected.connect("inproc://\(name)")
    return (bound, connected)
}
