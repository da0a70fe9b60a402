/// One request of the ZeroMQ Authentication Protocol (ZAP, ZeroMQ RFC 27): what libzmq asks
/// the handler bound at ``endpoint`` about a connection during its security handshake.
public struct ZAPRequest: Sendable {
    /// Where libzmq sends ZAP requests of every socket in the same context.
    public static let endpoint = "inproc://zeromq.zap.01"

    public let requestID: [UInt8]
    /// The ZAP domain of the socket the connection arrived on (`ZMQ_ZAP_DOMAIN`).
    public let domain: String
    /// The peer's IP address.
    public let address: String
    /// The security mechanism: `NULL`, `PLAIN` or `CURVE`.
    public let mechanism: String
    /// The mechanism's credentials: for CURVE, one frame, the client's 32-byte public key.
    public let credentials: [[UInt8]]

    /// Reads a request from the frames a REP socket received; nil if they are not one of
    /// version 1.0 (the handler then answers 500).
    public init?(frames: [[UInt8]]) {
        guard frames.count >= 6, frames[0] == Array("1.0".utf8) else { return nil }
        requestID = frames[1]
        domain = String(decoding: frames[2], as: UTF8.self)
        address = String(decoding: frames[3], as: UTF8.self)
        mechanism = String(decoding: frames[5], as: UTF8.self)
        credentials = Array(frames.dropFirst(6))
    }

    /// The client's CURVE public key, when the connection uses CURVE.
    public var curvePublicKey: [UInt8]? {
        guard mechanism == "CURVE", credentials.count == 1, credentials[0].count == 32 else { return nil }
        return credentials[0]
    }

    /// The reply frames: `status` 200 accepts the connection as `userID`; 400 refuses it; 500
    /// says the handler failed (the connection is refused too).
    public static func reply(requestID: [UInt8], status: Int, text: String, userID: String = "") -> [[UInt8]] {
        [Array("1.0".utf8), requestID, Array(String(status).utf8), Array(text.utf8), Array(userID.utf8), []]
    }
}
