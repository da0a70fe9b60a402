/// A connection as the ROUTER socket names it: the peer's routing id.
struct PeerID: Hashable, Sendable, CustomStringConvertible {
    let bytes: [UInt8]

    var description: String { bytes.map { String($0, radix: 16) }.joined() }
}
