public import Foundation

/// A plain-text email rendered as an RFC 5322 message (MIME 1.0, UTF-8, 8bit body): what the
/// email-worker writes into its outbox as an `.eml` file.
///
/// Header values come from event fields, so they are sanitised (CR, LF and other control
/// characters become spaces: no header can be injected), encoded as RFC 2047 encoded-words
/// when they are not ASCII, and folded at whitespace to lines of at most 78 characters. The
/// body's line endings are CRLF whatever the template used.
public struct EmailMessage: Sendable {
    public var from: String
    public var to: String
    public var subject: String
    public var date: Date
    /// The message id without its angle brackets: `local@domain`.
    public var messageID: String
    /// Extra headers (`X-…`), written after the standard ones in this order.
    public var extraHeaders: [(name: String, value: String)]
    public var body: String

    public init(
        from: String, to: String, subject: String, date: Date, messageID: String, extraHeaders: [(name: String, value: String)] = [],
        body: String
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.date = date
        self.messageID = messageID
        self.extraHeaders = extraHeaders
        self.body = body
    }

    /// The whole message: headers, a blank line, the body; every line ends with CRLF.
    public func rendered() -> String {
        var headers: [(String, String)] = [
            ("From", from), ("To", to), ("Subject", subject), ("Date", Self.rfc5322Date(date)),
            ("Message-ID", "<\(messageID)>"), ("MIME-Version", "1.0"), ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "8bit"),
        ]
        headers += extraHeaders.map { ($0.name, $0.value) }
        var message = ""
        for (name, value) in headers { message += Self.headerField(name, value) }
        message += "\r\n"
        message += Self.crlfBody(body)
        return message
    }

    /// One header field, `Name: value` folded, ending with CRLF.
    public static func headerField(_ name: String, _ value: String) -> String {
        let name = String(name.unicodeScalars.filter { $0.value > 32 && $0.value < 127 && $0 != ":" })
        let value = sanitisedHeaderValue(value)
        let words = value.unicodeScalars.allSatisfy(\.isASCII) ? value.split(separator: " ").map(String.init) : encodedWords(value)
        return fold(name + ":", words) + "\r\n"
    }

    /// `value` on one line: control characters (CR and LF included) become spaces, runs of
    /// whitespace one space, no leading or trailing space.
    public static func sanitisedHeaderValue(_ value: String) -> String {
        let spaced = String(String.UnicodeScalarView(value.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
        return spaced.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// Joins `words` after `prefix` with single spaces, starting a continuation line (CRLF and a
    /// space) before a word that would take the line past 78 characters.
    static func fold(_ prefix: String, _ words: [String]) -> String {
        var result = prefix
        var lineLength = prefix.utf8.count
        for word in words {
            let length = word.utf8.count
            if lineLength + 1 + length > 78, lineLength > 1 {
                result += "\r\n"
                lineLength = 0
            }
            result += " " + word
            lineLength += 1 + length
        }
        return result
    }

    /// RFC 2047 `=?utf-8?B?…?=` words of at most 75 characters, split between characters.
    static func encodedWords(_ value: String) -> [String] {
        var words: [String] = []
        var chunk = ""
        for character in value {
            // 45 bytes of UTF-8 make 60 base64 characters: a 72-character encoded word.
            if chunk.utf8.count + String(character).utf8.count > 45 {
                words.append(encodedWord(chunk))
                chunk = ""
            }
            chunk.append(character)
        }
        if !chunk.isEmpty { words.append(encodedWord(chunk)) }
        return words
    }

    private static func encodedWord(_ text: String) -> String {
        "=?utf-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    /// `body` with every line ending (CR, LF or CRLF) as CRLF, ending with one.
    public static func crlfBody(_ body: String) -> String {
        let normalised = body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        var lines = normalised.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0 + "\r\n" }.joined()
    }

    /// An RFC 5322 date in UTC, e.g. `Fri, 27 Nov 2026 12:00:00 +0000`.
    public static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }

    /// `text` reduced to letters, digits, `-` and `_`, every other byte as `%XX`: safe as a
    /// file name, in a message id and as an address's local part, and distinct for distinct
    /// inputs.
    public static func token(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            if scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_" {
                result.unicodeScalars.append(scalar)
            } else {
                result += String(format: "%%%02X", byte)
            }
        }
        return result.isEmpty ? "_" : result
    }
}
