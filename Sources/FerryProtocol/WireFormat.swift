import Foundation
public import SwiftProtobuf

/// Framing of protocol version 1: every message is two frames, a 4-byte signature
/// (`F`, `R`, `Y`, version) and one serialized protobuf. See proto/README.md.
public enum WireFormat {
    /// The protocol version this code speaks.
    public static let version: UInt8 = 1
    /// Frame 1 of every message.
    public static let signature: [UInt8] = [0x46, 0x52, 0x59, version]

    /// Checks frame 1 of an inbound message.
    public static func checkSignature(_ frame: UnsafeRawBufferPointer) throws(ProtocolError) {
        guard frame.count == 4, frame[0] == 0x46, frame[1] == 0x52, frame[2] == 0x59 else {
            throw ProtocolError(.malformedFrame, "frame 1 must be the 4-byte signature 'FRY' + version, got \(frame.count) bytes")
        }
        guard frame[3] == version else {
            throw ProtocolError(.unsupportedVersion, "protocol version \(frame[3]) is not supported; this broker speaks version \(version)")
        }
    }

    /// Decodes frame 2 in place, without copying the frame first.
    public static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, from frame: UnsafeRawBufferPointer) throws(ProtocolError) -> M {
        guard let base = frame.baseAddress, frame.count > 0 else { return M() }
        let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: frame.count, deallocator: .none)
        do {
            return try M(serializedBytes: data)
        } catch {
            throw ProtocolError(.malformedFrame, "frame 2 is not a valid \(M.protoMessageName): \(error)")
        }
    }

    /// Serializes a message into frame 2.
    public static func encode(_ message: some SwiftProtobuf.Message) -> [UInt8] {
        // Serializing a well-formed generated message cannot fail.
        (try? message.serializedBytes()) ?? []
    }
}
