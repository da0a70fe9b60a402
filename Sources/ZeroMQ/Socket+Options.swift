import CZeroMQ

extension Socket {
    /// Messages queued for sending per peer before sends block or fail (`ZMQ_SNDHWM`).
    public func setSendHighWaterMark(_ value: Int32) throws(ZMQError) { try setInt(ZMQ_SNDHWM, value, "ZMQ_SNDHWM") }
    /// Messages queued for receiving per peer before libzmq stops reading (`ZMQ_RCVHWM`).
    public func setReceiveHighWaterMark(_ value: Int32) throws(ZMQError) { try setInt(ZMQ_RCVHWM, value, "ZMQ_RCVHWM") }
    /// Longest a blocking send waits before failing with `EAGAIN`; -1 forever (`ZMQ_SNDTIMEO`).
    public func setSendTimeout(milliseconds: Int32) throws(ZMQError) { try setInt(ZMQ_SNDTIMEO, milliseconds, "ZMQ_SNDTIMEO") }
    /// How long `close` waits to flush queued messages, in milliseconds; -1 forever (`ZMQ_LINGER`).
    public func setLinger(milliseconds: Int32) throws(ZMQError) { try setInt(ZMQ_LINGER, milliseconds, "ZMQ_LINGER") }
    /// Sets the routing id (identity) this socket announces to a ROUTER peer.
    public func setRoutingID(_ id: [UInt8]) throws(ZMQError) { try setBytes(ZMQ_ROUTING_ID, id, "ZMQ_ROUTING_ID") }
    /// Largest inbound message accepted; a bigger one disconnects the peer (`ZMQ_MAXMSGSIZE`).
    public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) {
        checkOwner()
        var value = bytes
        guard zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &value, MemoryLayout<Int64>.size) == 0 else {
            throw ZMQError.last("zmq_setsockopt(ZMQ_MAXMSGSIZE)")
        }
    }
    /// ROUTER only: fail with `EHOSTUNREACH` instead of dropping messages to unknown peers.
    public func setRouterMandatory(_ on: Bool) throws(ZMQError) { try setInt(ZMQ_ROUTER_MANDATORY, on ? 1 : 0, "ZMQ_ROUTER_MANDATORY") }
    /// Queue messages only to completed connections (`ZMQ_IMMEDIATE`).
    public func setImmediate(_ on: Bool) throws(ZMQError) { try setInt(ZMQ_IMMEDIATE, on ? 1 : 0, "ZMQ_IMMEDIATE") }
    /// Reconnect interval after a dropped connection, in milliseconds.
    public func setReconnectInterval(milliseconds: Int32) throws(ZMQError) {
        try setInt(ZMQ_RECONNECT_IVL, milliseconds, "ZMQ_RECONNECT_IVL")
    }

    /// Makes this socket a CURVE server holding `secretKey` (32 bytes).
    public func setCurveServer(secretKey: [UInt8]) throws(ZMQError) {
        try setInt(ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER")
        try setBytes(ZMQ_CURVE_SECRETKEY, secretKey, "ZMQ_CURVE_SECRETKEY")
    }

    /// Makes this socket a CURVE client of the server with `serverKey`, using its own key pair.
    public func setCurveClient(serverKey: [UInt8], publicKey: [UInt8], secretKey: [UInt8]) throws(ZMQError) {
        try setBytes(ZMQ_CURVE_SERVERKEY, serverKey, "ZMQ_CURVE_SERVERKEY")
        try setBytes(ZMQ_CURVE_PUBLICKEY, publicKey, "ZMQ_CURVE_PUBLICKEY")
        try setBytes(ZMQ_CURVE_SECRETKEY, secretKey, "ZMQ_CURVE_SECRETKEY")
    }

    func setInt(_ option: Int32, _ value: Int32, _ name: String) throws(ZMQError) {
        checkOwner()
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) == 0 else {
            throw ZMQError.last("zmq_setsockopt(\(name))")
        }
    }

    func setBytes(_ option: Int32, _ value: [UInt8], _ name: String) throws(ZMQError) {
        checkOwner()
        let result = value.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard result == 0 else { throw ZMQError.last("zmq_setsockopt(\(name))") }
    }

    func stringOption(_ option: Int32, _ name: String) throws(ZMQError) -> String {
        checkOwner()
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        guard zmq_getsockopt(handle, option, &buffer, &size) == 0 else { throw ZMQError.last("zmq_getsockopt(\(name))") }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A CURVE key pair in Z85 text form (40 characters each).
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Generates a fresh key pair.
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        return CurveKeyPair(publicKey: String(cString: publicKey), secretKey: String(cString: secretKey))
    }
}
