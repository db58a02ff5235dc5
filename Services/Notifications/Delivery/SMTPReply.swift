/// One SMTP reply: a three-digit code and its lines of text (`250-first` … `250 last` is one reply, code 250).
struct SMTPReply: Sendable, Equatable {
    var code: Int
    /// The text of each line, after the code and its separator.
    var lines: [String]

    /// The lines joined by spaces, shortened to 300 characters (for error descriptions and logs).
    var text: String {
        let text = self.lines.joined(separator: " ")
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    /// 5xx: the command failed for good.
    var isPermanentFailure: Bool { (500..<600).contains(self.code) }

    /// The keywords of an EHLO reply (every line after the first), upper-cased, each with its parameters:
    /// `250-AUTH PLAIN LOGIN` gives `["AUTH": ["PLAIN", "LOGIN"]]`. `AUTH=PLAIN` (an old form) counts as `AUTH`.
    var extensions: [String: [String]] {
        var extensions: [String: [String]] = [:]
        for line in self.lines.dropFirst() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "=" }).map { $0.uppercased() }
            guard let keyword = words.first else { continue }
            extensions[keyword, default: []] += words.dropFirst()
        }
        return extensions
    }
}

/// Builds ``SMTPReply`` values from reply lines (RFC 5321 §4.2): `DDD-text` continues a reply, `DDD text` or `DDD`
/// ends it, and every line of a reply carries the same code.
struct SMTPReplyParser {
    /// A line that is not a reply line.
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// The longest reply line accepted (RFC 5321 allows 512 octets; servers send longer ones in practice).
    static let maximumLineLength = 4096
    /// The most lines one reply may have.
    static let maximumLines = 256

    private var code: Int?
    private var lines: [String] = []

    /// Whether no reply is half-read.
    var isIdle: Bool { self.code == nil }

    /// Reads one line, without its line break.
    /// - Returns: the reply the line completes, or `nil` when more lines follow.
    /// - Throws: ``Malformed`` for a line that does not start with three digits and a separator, whose code differs
    ///   from the reply's first line, or past ``maximumLines``.
    mutating func parse(line: [UInt8]) throws(Malformed) -> SMTPReply? {
        guard line.count >= 3, line.prefix(3).allSatisfy({ (0x30...0x39).contains($0) }),
            (0x32...0x35).contains(line[0])
        else {
            throw Malformed(description: "not an SMTP reply line: \(Self.excerpt(line))")
        }
        let code = line.prefix(3).reduce(0) { $0 * 10 + Int($1 - 0x30) }
        let separator = line.count > 3 ? line[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
            throw Malformed(description: "not an SMTP reply line: \(Self.excerpt(line))")
        }
        if let expected = self.code, expected != code {
            throw Malformed(description: "reply code changed from \(expected) to \(code) inside one reply")
        }
        guard self.lines.count < Self.maximumLines else {
            throw Malformed(description: "a reply of more than \(Self.maximumLines) lines")
        }
        self.code = code
        self.lines.append(String(decoding: line.dropFirst(4), as: UTF8.self))
        guard separator == UInt8(ascii: " ") else { return nil }
        defer {
            self.code = nil
            self.lines = []
        }
        return SMTPReply(code: code, lines: self.lines)
    }

    private static func excerpt(_ line: [UInt8]) -> String {
        String(decoding: line.prefix(60), as: UTF8.self).debugDescription
    }
}
