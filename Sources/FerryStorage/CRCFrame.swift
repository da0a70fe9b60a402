import CCRC32C

/// The framing shared by the log's records and the cursor journal's: a u32 length of the bytes
/// after it, a u32 CRC32C of the bytes after the CRC, then the content; little-endian. Recovery
/// tells a torn frame (not all there) from a corrupt one (there, but wrong).
enum CRCFrame {
    /// The length and the CRC.
    static let headerSize = 8

    enum Check {
        /// A whole frame with a matching CRC; `content` is where its content sits in the buffer.
        case valid(content: Range<Int>)
        /// Not enough bytes for the frame: the end of the data, or a torn write.
        case incomplete
        /// The bytes are there but do not form a valid frame.
        case corrupt(String)
    }

    /// Checks the frame at `position`: a plausible length (at least `minimumContent` bytes of
    /// content), all of it present, and a matching CRC.
    static func check(_ bytes: UnsafeRawBufferPointer, at position: Int, minimumContent: Int) -> Check {
        guard bytes.count - position >= headerSize else { return .incomplete }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
        guard length >= minimumContent + 4, length <= 1 << 30 else { return .corrupt("implausible length \(length)") }
        guard bytes.count - position - 4 >= length else { return .incomplete }
        let storedCRC = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self))
        guard ferry_crc32c(0, bytes.baseAddress! + position + headerSize, length - 4) == storedCRC else { return .corrupt("CRC mismatch") }
        return .valid(content: (position + headerSize)..<(position + 4 + length))
    }

    /// Writes the length and the CRC of the `frameSize`-byte frame at `frame`, whose content is
    /// already in place after the header.
    static func seal(_ frame: UnsafeMutableRawPointer, frameSize: Int) {
        frame.storeBytes(of: UInt32(frameSize - 4).littleEndian, toByteOffset: 0, as: UInt32.self)
        let crc = ferry_crc32c(0, frame + headerSize, frameSize - headerSize)
        frame.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
    }
}
