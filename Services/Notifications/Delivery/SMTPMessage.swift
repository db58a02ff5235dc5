import Foundation

/// A notification rendered as an Internet message (RFC 5322, MIME) and framed for SMTP's DATA.
///
/// Headers: `Date`, `From`, `To`, `Subject` (RFC 2047 encoded words when it is not plain ASCII), `Message-ID`
/// (`<notification id@domain of the sender>`: the same for every attempt at one notification), `MIME-Version`,
/// `Content-Type: text/plain; charset=utf-8` and `Content-Transfer-Encoding: quoted-printable`, so the content is
/// 7-bit whatever the body holds and whatever the server supports. Lines end in CRLF, lines that start with `.` are
/// dot-stuffed, and the content ends with the `.` line.
///
/// A line break (or NUL) in an address or in the subject is refused (header injection): ``init(_:from:date:)``
/// throws before anything is sent.
struct SMTPMessage: Sendable {
    /// The envelope sender, for `MAIL FROM:<…>`.
    let sender: String
    /// The envelope recipient, for `RCPT TO:<…>`.
    let recipient: String
    /// What follows DATA, terminator included.
    let content: [UInt8]

    /// - Throws: ``SMTPError`` `.invalidMessage` (command `compose`) when the recipient is not a plain address or
    ///   the subject holds a line break.
    init(_ message: OutgoingMessage, from: Mailbox, date: Date) throws {
        if let problem = Mailbox.problem(inAddress: message.to) {
            throw SMTPError(.invalidMessage, command: "compose", reason: "the recipient address \(problem)")
        }
        if message.subject.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
            throw SMTPError(
                .invalidMessage,
                command: "compose",
                reason: "the subject contains a line break (refused: header injection)"
            )
        }
        self.sender = from.address
        self.recipient = message.to
        let headers = [
            "Date: \(Self.date(date))",
            "From: \(from.header(indent: "From: ".count))",
            "To: \(message.to)",
            "Subject: \(Self.headerText(message.subject, indent: "Subject: ".count))",
            "Message-ID: \(Self.messageID(notificationID: message.notificationID, domain: from.domain))",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
        ]
        // A folded header is several lines (its CRLFs are the only line breaks the headers can hold).
        let lines = headers.flatMap { Self.lines(of: Array($0.utf8)) } + [[]] + Self.quotedPrintable(message.body)
        var content: [UInt8] = []
        for line in lines {
            if line.first == UInt8(ascii: ".") { content.append(UInt8(ascii: ".")) }
            content += line
            content += [0x0D, 0x0A]
        }
        content += Array(".\r\n".utf8)
        self.content = content
    }

    /// `<id@domain>`, with every character of the notification id that may not stand in a message id (`:`, `.`,
    /// `%`, non-ASCII, …) written as `%XX`: stable, unique per notification, and reversible.
    static func messageID(notificationID: String, domain: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&'*+-/=?^_`{|}~".utf8)
        var left = ""
        for byte in notificationID.utf8 {
            if allowed.contains(byte) {
                left.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                left += "%" + Self.hex(byte)
            }
        }
        return "<\(left.isEmpty ? "notification" : left)@\(domain)>"
    }

    /// The text of an unstructured header: itself when it is printable ASCII, otherwise RFC 2047 encoded words
    /// (`=?utf-8?b?…?=`, never splitting a character) folded onto continuation lines so that no line, the first
    /// one's `indent` characters (`Subject: `) included, exceeds 76 characters.
    static func headerText(_ text: String, indent: Int) -> String {
        let plain = text.utf8.allSatisfy { (0x20...0x7E).contains($0) }
        if plain && text.utf8.count <= 900 && !text.contains("=?") { return text }
        // Each line holds one word: 12 delimiter characters and 4 base64 characters for every 3 bytes.
        func capacity(_ indent: Int) -> Int { max((76 - indent - 12) / 4 * 3, 3) }
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > capacity(words.isEmpty ? indent : 1) {
                words.append(Self.encodedWord(chunk))
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append(Self.encodedWord(chunk)) }
        return words.joined(separator: "\r\n ")
    }

    /// The body as quoted-printable lines (RFC 2045 §6.7), without line breaks: each line of the text (CRLF, LF
    /// or CR ends one) is encoded as UTF-8, with soft line breaks (`=` at the end) so no line exceeds 76 characters.
    static func quotedPrintable(_ text: String) -> [[UInt8]] {
        var encoded: [[UInt8]] = []
        for line in Self.lines(of: Array(text.utf8)) {
            var current: [UInt8] = []
            for (index, byte) in line.enumerated() {
                let isLast = index == line.count - 1
                let token: [UInt8]
                switch byte {
                case 0x20, 0x09:
                    token = isLast ? Array("=\(Self.hex(byte))".utf8) : [byte]  // no whitespace at a line's end
                case 0x21...0x7E where byte != UInt8(ascii: "="):
                    token = [byte]
                default:
                    token = Array("=\(Self.hex(byte))".utf8)
                }
                if current.count + token.count > 75 {
                    encoded.append(current + [UInt8(ascii: "=")])
                    current = []
                }
                current += token
            }
            encoded.append(current)
        }
        return encoded
    }

    /// `Sat, 21 Nov 2026 08:50:00 +0000` (RFC 5322 §3.3, in UTC).
    static func date(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
        let parts = calendar.dateComponents([.weekday, .day, .month, .year, .hour, .minute, .second], from: date)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int?) -> String {
            let value = value ?? 0
            return value < 10 ? "0\(value)" : "\(value)"
        }
        let weekday = weekdays[((parts.weekday ?? 1) - 1) % 7]
        let month = months[((parts.month ?? 1) - 1) % 12]
        return "\(weekday), \(two(parts.day)) \(month) \(parts.year ?? 1970) "
            + "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second)) +0000"
    }

    private static func lines(of bytes: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case 0x0D:
                lines.append(current)
                current = []
                if index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
            case 0x0A:
                lines.append(current)
                current = []
            default:
                current.append(bytes[index])
            }
            index += 1
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    private static func encodedWord(_ bytes: [UInt8]) -> String {
        "=?utf-8?b?\(Data(bytes).base64EncodedString())?="
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".unicodeScalars)
        return String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0F)])
    }
}

extension SMTPMessage {
    /// A sender as `SMTP_FROM` gives it: `no-reply@shop.example` or `Storefront <no-reply@shop.example>`.
    struct Mailbox: Sendable, Equatable {
        var displayName: String?
        var address: String

        /// Parses `address` or `Display Name <address>` (the name may be quoted).
        /// - Returns: `nil` when it is neither, or the address is not a plain `local@domain` (see
        ///   ``problem(inAddress:)``), or the name holds a line break.
        init?(parsing text: String) {
            let text = text.trimmingCharacters(in: .whitespaces)
            var name: String?
            var address = text
            if text.hasSuffix(">"), let open = text.lastIndex(of: "<") {
                address = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
                var display = text[..<open].trimmingCharacters(in: .whitespaces)
                if display.count >= 2, display.hasPrefix("\""), display.hasSuffix("\"") {
                    display = String(display.dropFirst().dropLast())
                }
                name = display.isEmpty ? nil : display
            }
            guard Self.problem(inAddress: address) == nil else { return nil }
            if let name, name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return nil }
            self.displayName = name
            self.address = address
        }

        /// The part after the `@`.
        var domain: String {
            self.address.lastIndex(of: "@").map { String(self.address[self.address.index(after: $0)...]) } ?? ""
        }

        /// The `From` header's value: the address, after the name (quoted, or RFC 2047 encoded words when not
        /// ASCII, folded after `indent` characters like ``SMTPMessage/headerText(_:indent:)``).
        func header(indent: Int) -> String {
            guard let name = self.displayName else { return self.address }
            let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~ ".utf8)
            if name.utf8.allSatisfy({ atext.contains($0) }) { return "\(name) <\(self.address)>" }
            if name.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) && !name.contains("=?") {
                let quoted = name.replacingOccurrences(of: "\\", with: "\\\\")
                    .replacingOccurrences(of: "\"", with: "\\\"")
                return "\"\(quoted)\" <\(self.address)>"
            }
            let words = SMTPMessage.headerText(name, indent: indent)
            let lastLine = words.components(separatedBy: "\r\n").last ?? words
            let fold = (words.contains("\r\n") ? 0 : indent) + lastLine.count + self.address.count + 3 > 76
            return words + (fold ? "\r\n " : " ") + "<\(self.address)>"
        }

        /// What is wrong with `address` as a plain `local@domain` address, or `nil` when nothing is: it must be
        /// printable ASCII without spaces, angle brackets, quotes, commas, semicolons, colons, parentheses,
        /// brackets or backslashes, with one `@` between a non-empty local part and domain, at most 254 bytes.
        static func problem(inAddress address: String) -> String? {
            let bytes = Array(address.utf8)
            if bytes.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
                return "contains a line break (refused: header injection)"
            }
            let forbidden = Set(" <>()[]\\,;:\"".utf8)
            guard !bytes.isEmpty, bytes.count <= 254,
                bytes.allSatisfy({ (0x21...0x7E).contains($0) && !forbidden.contains($0) })
            else {
                return "is not a plain ASCII address"
            }
            let parts = bytes.split(separator: UInt8(ascii: "@"), omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                return "is not of the form local@domain"
            }
            return nil
        }
    }
}
