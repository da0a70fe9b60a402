import FerryProtocol
import SwiftProtobuf
import Testing

/// The in-place Settle reader agrees with SwiftProtobuf on every frame it takes, and leaves to
/// SwiftProtobuf every frame it cannot read the same way.
@Suite("SettleFrame")
struct SettleFrameTests {
    static func frame(acks: [UInt64], nacks: [Nack] = [], requestID: UInt64 = 3) -> [UInt8] {
        var settle = Settle()
        settle.acks = acks
        settle.nacks = nacks
        var message = ClientMessage()
        message.requestID = requestID
        message.settle = settle
        return WireFormat.encode(message)
    }

    /// What `readAcks` reads from `bytes`, or nil if it left the frame to SwiftProtobuf; the ids
    /// already in the array stay in front.
    static func read(_ bytes: [UInt8]) -> [UInt64]? {
        var acks: [UInt64] = [99]
        let taken = bytes.withUnsafeBytes { SettleFrame.readAcks($0, into: &acks) }
        if !taken {
            #expect(acks == [99], "a frame left to SwiftProtobuf must leave the ids as they were")
            return nil
        }
        #expect(acks.first == 99)
        return Array(acks.dropFirst())
    }

    /// SwiftProtobuf's reading of the same bytes: the acks of a Settle without nacks.
    static func reference(_ bytes: [UInt8]) -> [UInt64]? {
        guard let message = try? ClientMessage(serializedBytes: bytes), case .settle(let settle)? = message.command,
            settle.nacks.isEmpty
        else { return nil }
        return settle.acks
    }

    @Test("reads packed acks as SwiftProtobuf does", arguments: [[], [1], [0, 127, 128, 300, 1 << 35, UInt64.max]] as [[UInt64]])
    func packedAcks(acks: [UInt64]) {
        let bytes = Self.frame(acks: acks)
        #expect(Self.read(bytes) == acks)
        #expect(Self.reference(bytes) == acks)
    }

    @Test("reads unpacked and mixed acks, and skips unknown fields, as SwiftProtobuf does")
    func unpackedAcks() {
        // ClientMessage { request_id: 5, settle (14) { acks 7 unpacked, unknown field 9, acks [8, 9] packed } }
        let settle: [UInt8] = [0x08, 0x07, 0x48, 0x01, 0x0A, 0x02, 0x08, 0x09]
        let bytes: [UInt8] = [0x08, 0x05, 0x72, UInt8(settle.count)] + settle
        #expect(Self.reference(bytes) == [7, 8, 9])
        #expect(Self.read(bytes) == [7, 8, 9])
    }

    @Test("leaves nacks, other commands, repeated commands and malformed frames to SwiftProtobuf")
    func leavesTheRest() {
        var nack = Nack()
        nack.deliveryID = 4
        var hello = ClientMessage()
        hello.hello = Hello()
        let settle = Self.frame(acks: [1, 2])
        let cases: [(String, [UInt8])] = [
            ("nacks", Self.frame(acks: [1], nacks: [nack])),
            ("another command", WireFormat.encode(hello)),
            ("a second Settle field, which protobuf merges", settle + Array(settle.dropFirst(2))),
            ("a Settle followed by another command", settle + WireFormat.encode(hello)),
            ("a truncated packed field", [0x72, 0x03, 0x0A, 0x02, 0x80]),
            ("acks as a fixed64", [0x72, 0x09, 0x09, 1, 0, 0, 0, 0, 0, 0, 0]),
            ("a request id of the wrong type", [0x0A, 0x00, 0x72, 0x00]),
            ("a truncated frame", Array(settle.dropLast())),
        ]
        for (name, bytes) in cases {
            #expect(Self.read(bytes) == nil, "\(name)")
        }
        #expect(Self.read(WireFormat.encode(hello)) == nil)
    }
}
