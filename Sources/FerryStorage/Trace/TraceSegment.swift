import Foundation

/// One file of the trace log: `trace-<first record's sequence, 20 digits>.log`, a run of CRC
/// frames that each hold a batch of records (``TraceCodec``).
struct TraceSegment: Sendable, Equatable {
    let path: String
    /// The sequence number of its first record: what lets retention count what it deletes.
    let firstSequence: UInt64
    /// How far it holds whole frames (what a search may read).
    var length: Int

    static let prefix = "trace-"
    static let suffix = ".log"

    static func name(firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return prefix + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    static func firstSequence(ofName name: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    /// Calls `body` with each record of `bytes`, frame by frame; stops at the first frame that is
    /// incomplete or fails its CRC (a torn tail). A whole frame that does not decode (a format
    /// this build does not know) is passed over. Returns where the whole frames end and how many
    /// records they hold.
    @discardableResult
    static func scan(_ bytes: UnsafeRawBufferPointer, _ body: (TraceRecord) -> Void) -> (end: Int, records: UInt64) {
        var position = 0
        var records: UInt64 = 0
        while case .valid(let content) = CRCFrame.check(bytes, at: position, minimumContent: 1) {
            let frame = UnsafeRawBufferPointer(rebasing: bytes[content])
            var decoded: [TraceRecord] = []
            if TraceCodec.decode(frame, { decoded.append($0) }) {
                records += UInt64(decoded.count)
                decoded.forEach(body)
            }
            position = content.upperBound
        }
        return (position, records)
    }

    /// Reads the first `length` bytes of the file; nil when it is gone (retention deleted it).
    func read() -> [UInt8]? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: length) else { return nil }
        return [UInt8](data)
    }
}
