import FerryProtocol
import Testing

/// The hand-written confirm encoder writes the bytes SwiftProtobuf writes.
@Suite("PublishResultEncoder")
struct PublishResultEncoderTests {
    @Test(
        "confirms encode as SwiftProtobuf encodes them",
        arguments: [
            (0, [], []), (7, [1], [0]), (1 << 40, [1, 2, 3], [127, 128, 16_383]),
            (UInt64.max, (1...300).map { UInt64($0) }, (0..<300).map { UInt64($0) << 20 }),
        ] as [(UInt64, [UInt64], [UInt64])])
    func matchesSwiftProtobuf(requestID: UInt64, confirmed: [UInt64], offsets: [UInt64]) {
        var result = PublishResult()
        result.confirmed = confirmed
        result.offsets = offsets
        var message = ServerMessage()
        message.requestID = requestID
        message.publishResult = result
        #expect(PublishResultEncoder.encode(requestID: requestID, confirmed: confirmed, offsets: offsets) == WireFormat.encode(message))
    }
}
