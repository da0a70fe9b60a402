import Foundation
import OrderSystemKit
import Testing

@Suite("RFC 5322 rendering of the email-worker's messages")
struct EmailMessageTests {
    /// Fri, 27 Nov 2026 12:00:00 UTC.
    let date = Date(timeIntervalSince1970: 1_795_780_800)

    func message(subject: String = "Your order o-1 is confirmed", body: String = "Hello\nline two\n") -> EmailMessage {
        EmailMessage(
            from: "Ferry Shop <orders@shop.example>", to: "u1@customers.example", subject: subject, date: date,
            messageID: "evt-1@shop.example", extraHeaders: [("X-Ferry-Event-ID", "evt-1"), ("X-Correlation-ID", "corr-1")],
            body: body)
    }

    @Test("headers in order, a blank line, then the body, every line ending in CRLF")
    func layout() {
        let rendered = message().rendered()
        #expect(
            rendered == """
                From: Ferry Shop <orders@shop.example>\r
                To: u1@customers.example\r
                Subject: Your order o-1 is confirmed\r
                Date: Fri, 27 Nov 2026 12:00:00 +0000\r
                Message-ID: <evt-1@shop.example>\r
                MIME-Version: 1.0\r
                Content-Type: text/plain; charset=utf-8\r
                Content-Transfer-Encoding: 8bit\r
                X-Ferry-Event-ID: evt-1\r
                X-Correlation-ID: corr-1\r
                \r
                Hello\r
                line two\r

                """)
        let bytes = Array(rendered.utf8)
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            #expect(index > 0 && bytes[index - 1] == UInt8(ascii: "\r"), "bare LF at byte \(index)")
        }
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\r") {
            #expect(index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\n"), "bare CR at byte \(index)")
        }
    }

    @Test("the body's CR, LF and CRLF line endings all become CRLF")
    func bodyLineEndings() {
        #expect(EmailMessage.crlfBody("a\rb\nc\r\nd") == "a\r\nb\r\nc\r\nd\r\n")
        #expect(EmailMessage.crlfBody("a\n\nb\n") == "a\r\n\r\nb\r\n")
    }

    @Test("the date is RFC 5322 in en_US_POSIX whatever the process's locale")
    func dateFormat() {
        #expect(EmailMessage.rfc5322Date(date) == "Fri, 27 Nov 2026 12:00:00 +0000")
        #expect(EmailMessage.rfc5322Date(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 +0000")
    }

    @Test("CR and LF in a header value cannot inject a header")
    func noHeaderInjection() {
        let rendered = message(subject: "Hi\r\nBcc: victim@example.com\nX-Evil: 1").rendered()
        let header = rendered.components(separatedBy: "\r\n\r\n")[0]
        let lines = header.components(separatedBy: "\r\n")
        #expect(!lines.contains { $0.hasPrefix("Bcc:") || $0.hasPrefix("X-Evil:") })
        #expect(lines.contains("Subject: Hi Bcc: victim@example.com X-Evil: 1"))
        #expect(EmailMessage.headerField("X-Test", "a\u{0}b\tc\u{7F}d") == "X-Test: a b c d\r\n")
        #expect(EmailMessage.headerField("Bad\r\nName: x", "v") == "BadNamex: v\r\n")
    }

    @Test("long header values fold at whitespace to lines of at most 78 characters; continuation lines start with a space")
    func folding() {
        let subject = (1...30).map { "word\($0)" }.joined(separator: " ")
        let field = EmailMessage.headerField("Subject", subject)
        let lines = field.components(separatedBy: "\r\n").dropLast()
        #expect(lines.count > 1)
        #expect(lines.allSatisfy { $0.utf8.count <= 78 })
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix(" ") })
        // Unfolding (removing CRLF before whitespace) gives back the value.
        #expect(field.replacingOccurrences(of: "\r\n ", with: " ") == "Subject: \(subject)\r\n")
    }

    @Test("non-ASCII header values are RFC 2047 encoded words that decode back to the value")
    func encodedWords() throws {
        let subject = "Ihre Bestellung für Zoë ist bestätigt — 🚚 unterwegs, mit einer ziemlich langen Betreffzeile"
        let field = EmailMessage.headerField("Subject", subject)
        #expect(field.unicodeScalars.allSatisfy { $0.isASCII })
        let lines = field.components(separatedBy: "\r\n").dropLast()
        #expect(lines.allSatisfy { $0.utf8.count <= 78 })
        let words = field.dropFirst("Subject:".count).split(whereSeparator: { $0 == " " || $0 == "\r\n" })
        var decoded = Data()
        for word in words {
            #expect(word.hasPrefix("=?utf-8?B?") && word.hasSuffix("?="))
            decoded += try #require(Data(base64Encoded: String(word.dropFirst(10).dropLast(2))))
        }
        #expect(String(decoding: decoded, as: UTF8.self) == subject)
    }

    @Test("tokens keep letters, digits, - and _ and percent-encode the rest, so ids make safe, distinct file names")
    func tokens() {
        #expect(EmailMessage.token("evt-1_A") == "evt-1_A")
        #expect(EmailMessage.token("a/b") == "a%2Fb")
        #expect(EmailMessage.token("a_b") != EmailMessage.token("a/b"))
        #expect(EmailMessage.token("../x y@z") == "%2E%2E%2Fx%20y%40z")
        #expect(EmailMessage.token("") == "_")
    }
}
