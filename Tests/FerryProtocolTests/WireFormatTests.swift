import FerryProtocol
import Foundation
import Testing

@Suite("Wire format")
struct WireFormatTests {
    static func check(_ frame: [UInt8]) -> ProtocolError? {
        do {
            try frame.withUnsafeBytes { try WireFormat.checkSignature($0) }
            return nil
        } catch {
            return error as? ProtocolError ?? ProtocolError(.unspecified, "unexpected \(error)")
        }
    }

    static func decode(_ frame: [UInt8]) throws -> ClientMessage {
        try frame.withUnsafeBytes { try WireFormat.decode(ClientMessage.self, from: $0) }
    }

    @Test("the signature is 'FRY' + version 1 and is accepted")
    func signature() {
        #expect(WireFormat.version == 1)
        #expect(WireFormat.signature == [0x46, 0x52, 0x59, 0x01])
        #expect(Array("FRY".utf8) == Array(WireFormat.signature.prefix(3)))
        #expect(Self.check(WireFormat.signature) == nil)
    }

    @Test(
        "a signature of the wrong length or letters is MALFORMED_FRAME",
        arguments: [
            [], [0x46], [0x46, 0x52, 0x59], [0x46, 0x52, 0x59, 0x01, 0x00], Array("FRX".utf8) + [1], Array("fry".utf8) + [1],
            Array("XRY".utf8) + [1], Array("FRY".utf8) + [2] + [0], Array("FXY".utf8) + [2],
        ] as [[UInt8]])
    func malformedSignature(frame: [UInt8]) throws {
        let error = try #require(Self.check(frame))
        #expect(error.code == .malformedFrame)
        #expect(error.message.contains("got \(frame.count) bytes"))
    }

    @Test("a well-formed signature of another version is UNSUPPORTED_VERSION", arguments: [0, 2, 255] as [UInt8])
    func otherVersion(version: UInt8) throws {
        let error = try #require(Self.check(Array("FRY".utf8) + [version]))
        #expect(error.code == .unsupportedVersion)
        #expect(error.message.contains("protocol version \(version) is not supported"))
    }

    @Test(
        "undecodable frames are MALFORMED_FRAME",
        arguments: [
            [0xFF, 0xFF, 0xFF, 0xFF],  // an unterminated varint
            [0x0F, 0x01],  // field 1 with the invalid wire type 7
            [0x5A, 0x10, 0x01, 0x02],  // field 11 (publish) claiming 16 bytes, holding 2
            [0x08],  // a tag with no value
            [0x5A, 0x02, 0x0A, 0x05],  // publish > items with a truncated length
        ] as [[UInt8]])
    func garbage(frame: [UInt8]) {
        let error = #expect(throws: ProtocolError.self) { try Self.decode(frame) }
        #expect(error?.code == .malformedFrame)
        #expect(error?.message.contains("ferry.v1.ClientMessage") == true)
    }

    @Test("an empty frame decodes to the default message")
    func emptyFrame() throws {
        #expect(try Self.decode([]) == ClientMessage())
    }

    @Test("encode then decode round-trips, and the result does not alias the frame")
    func roundTrip() throws {
        var event = WireEvent()
        event.topic = "orders.created"
        event.id = "order-1"
        event.payload = Data([1, 2, 3, 4, 5])
        event.headers = ["trace": "abc"]
        var item = PublishItem()
        item.sequence = 77
        item.event = event
        var message = ClientMessage()
        message.requestID = 9
        message.publish.items = [item]

        var frame = WireFormat.encode(message)
        #expect(!frame.isEmpty)
        let decoded = try Self.decode(frame)
        #expect(decoded == message)
        #expect(decoded.publish.items.first?.event.payload == Data([1, 2, 3, 4, 5]))

        // decode reads the frame in place; what it returns must survive the frame changing.
        for index in frame.indices { frame[index] = 0 }
        #expect(decoded.publish.items.first?.event.payload == Data([1, 2, 3, 4, 5]))
        #expect(decoded.publish.items.first?.event.headers == ["trace": "abc"])
    }

    @Test("protocol errors carry their wire code and name")
    func protocolError() {
        let error = ProtocolError(.payloadTooLarge, "too big")
        #expect(error.description == "PAYLOAD_TOO_LARGE: too big")
        #expect(error.wire.code == .payloadTooLarge)
        #expect(error.wire.message == "too big")
        let names: [(ErrorCode, String)] = [
            (.unspecified, "ERROR_CODE_UNSPECIFIED"), (.malformedFrame, "MALFORMED_FRAME"), (.unknownCommand, "UNKNOWN_COMMAND"),
            (.missingField, "MISSING_FIELD"), (.unsupportedVersion, "UNSUPPORTED_VERSION"), (.invalidArgument, "INVALID_ARGUMENT"),
            (.unknownGroup, "UNKNOWN_GROUP"), (.unknownSubscription, "UNKNOWN_SUBSCRIPTION"), (.storageFull, "STORAGE_FULL"),
            (.storageFailure, "STORAGE_FAILURE"), (.shuttingDown, "SHUTTING_DOWN"), (.batchTooLarge, "BATCH_TOO_LARGE"),
            (.UNRECOGNIZED(99), "UNRECOGNIZED(99)"),
        ]
        for (code, name) in names { #expect(code.name == name) }
        #expect(ErrorCode.malformedFrame.rawValue == 1 && ErrorCode.batchTooLarge.rawValue == 12)
    }
}
