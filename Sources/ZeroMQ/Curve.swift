import CZeroMQ

/// Z85, the text encoding of CURVE keys (40 characters for a 32-byte key).
public enum Z85 {
    /// The 32 bytes of the key `text` (40 Z85 characters), or nil if it is not one.
    public static func decodeKey(_ text: String) -> [UInt8]? {
        guard text.utf8.count == 40 else { return nil }
        var key = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&key, text) != nil else { return nil }
        return key
    }

    /// The 40-character text of a 32-byte key.
    public static func encodeKey(_ key: UnsafeRawBufferPointer) -> String? {
        guard key.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, key.bindMemory(to: UInt8.self).baseAddress, 32) != nil else { return nil }
        return String(cString: text)
    }
}

extension CurveKeyPair {
    /// The key pair whose secret key is `secretKey` (Z85): its public key is derived from it.
    public init?(secretKey: String) {
        guard secretKey.utf8.count == 40, Z85.decodeKey(secretKey) != nil else { return nil }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { return nil }
        self.init(publicKey: String(cString: publicKey), secretKey: secretKey)
    }
}

extension Socket {
    /// Sets a routing id nobody can guess: `name-` and 32 random hex digits (128 random bits,
    /// never a leading zero byte, which libzmq keeps for the ids it makes up). A ROUTER routes
    /// by id alone, so with CURVE another client must not be able to claim this one's.
    public func setRandomRoutingID(name: String) throws(ZMQError) {
        var random = SystemRandomNumberGenerator()
        let hex = (0..<16).map { _ in
            let byte = UInt8.random(in: 0...255, using: &random)
            return String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16)
        }.joined()
        let prefix = name.prefix(64).isEmpty ? "ferry" : String(name.prefix(64))
        try setRoutingID(Array("\(prefix)-\(hex)".utf8))
    }

    /// The ZAP domain this socket's connections are authenticated in (`ZMQ_ZAP_DOMAIN`).
    public func setZAPDomain(_ domain: String) throws(ZMQError) { try setBytes(ZMQ_ZAP_DOMAIN, Array(domain.utf8), "ZMQ_ZAP_DOMAIN") }

    /// Refuses every handshake when no ZAP handler answers, instead of accepting it
    /// (`ZMQ_ZAP_ENFORCE_DOMAIN`, option 93 in libzmq 4.3).
    public func setZAPEnforceDomain(_ on: Bool) throws(ZMQError) { try setInt(93, on ? 1 : 0, "ZMQ_ZAP_ENFORCE_DOMAIN") }

    /// Unbinds `endpoint` (as ``lastEndpoint`` names it).
    public func unbind(_ endpoint: String) throws(ZMQError) {
        checkOwner()
        guard zmq_unbind(handle, endpoint) == 0 else { throw ZMQError.last("zmq_unbind(\(endpoint))") }
    }
}
