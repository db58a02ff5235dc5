import Foundation
import ServiceKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where and how ``SMTPSender`` delivers.
///
/// Keys (environment names in parentheses; an empty value counts as unset):
/// - `smtp.host` (`SMTP_HOST`): the relay's host name or IP address. Unset: no SMTP (``LogSender``).
/// - `smtp.port` (`SMTP_PORT`): default 587, or 465 with `SMTP_TLS=implicit`.
/// - `smtp.from` (`SMTP_FROM`): required; `no-reply@shop.example` or `Storefront <no-reply@shop.example>`. Its
///   domain is the right-hand side of every `Message-ID`.
/// - `smtp.username`, `smtp.password` (`SMTP_USERNAME`, `SMTP_PASSWORD`, a secret): both or neither; with them the
///   sender authenticates (AUTH PLAIN, or LOGIN when PLAIN is not offered), and only ever over TLS.
/// - `smtp.tls` (`SMTP_TLS`): `auto` (default: STARTTLS whenever the server offers it; without it, plain text,
///   but never with credentials), `required` (no STARTTLS offered is an error) or `implicit` (TLS from the first
///   byte). Certificates and host names are always verified; a failed handshake is an error, never a fallback.
/// - `smtp.ca.file` (`SMTP_CA_FILE`): a PEM file of CA certificates trusted besides the system's (a private CA).
/// - `smtp.timeout.ms` (`SMTP_TIMEOUT_MS`): the most the connection and each reply may take; default 30000.
struct SMTPConfiguration: Sendable {
    /// How TLS is used (`SMTP_TLS`).
    enum TLSMode: String, Sendable, CaseIterable {
        case auto
        case required
        case implicit
    }

    /// A user name and password for AUTH. Its descriptions never show the password.
    struct Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
        var username: String
        var password: String

        var description: String { "\(self.username):<redacted>" }
        var debugDescription: String { self.description }
    }

    var host: String
    var port: Int
    var from: SMTPMessage.Mailbox
    var credentials: Credentials?
    var tlsMode: TLSMode
    var caFile: String?
    /// Milliseconds.
    var timeout: Int64
    /// What the client calls itself in EHLO: this machine's host name when it is a plain domain, else `localhost`.
    var clientName: String

    /// The configuration from `setting` (a key and whether it is a secret → its value).
    /// - Returns: `nil` when `smtp.host` is unset or empty.
    /// - Throws: ``ConfigurationError`` for a missing `SMTP_FROM`, a malformed value, a user name without a password
    ///   (or the reverse), or a CA file that is not readable.
    init?(setting: (_ key: String, _ isSecret: Bool) -> String?) throws {
        func value(_ key: String, isSecret: Bool = false) -> String? {
            guard let text = setting(key, isSecret)?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
                return nil
            }
            return text
        }
        guard let host = value("smtp.host") else { return nil }
        guard host.utf8.count <= 253, host.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "/") })
        else {
            throw ConfigurationError(key: "smtp.host", value: host, expected: "a host name or IP address")
        }
        self.host = host

        let mode = value("smtp.tls") ?? TLSMode.auto.rawValue
        guard let tlsMode = TLSMode(rawValue: mode.lowercased()) else {
            throw ConfigurationError(key: "smtp.tls", value: mode, expected: "auto, required or implicit")
        }
        self.tlsMode = tlsMode

        self.port = tlsMode == .implicit ? 465 : 587
        if let text = value("smtp.port") {
            guard let port = Int(text), (1...65535).contains(port) else {
                throw ConfigurationError(key: "smtp.port", value: text, expected: "a port number (1-65535)")
            }
            self.port = port
        }

        guard let fromText = value("smtp.from") else {
            throw ConfigurationError(
                key: "smtp.from",
                value: "",
                expected: "the sender address (e.g. Storefront <no-reply@shop.example>) whenever SMTP_HOST is set"
            )
        }
        guard let from = SMTPMessage.Mailbox(parsing: fromText) else {
            throw ConfigurationError(
                key: "smtp.from",
                value: fromText,
                expected: "an address (local@domain, ASCII) or Display Name <local@domain>"
            )
        }
        self.from = from

        switch (value("smtp.username"), value("smtp.password", isSecret: true)) {
        case (nil, nil):
            self.credentials = nil
        case (let username?, let password?):
            self.credentials = Credentials(username: username, password: password)
        case (let username?, nil):
            throw ConfigurationError(
                key: "smtp.password",
                value: "",
                expected: "a password, since SMTP_USERNAME (\(username)) is set"
            )
        case (nil, _?):
            throw ConfigurationError(
                key: "smtp.username",
                value: "",
                expected: "a user name, since SMTP_PASSWORD is set"
            )
        }

        if let path = value("smtp.ca.file") {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ConfigurationError(key: "smtp.ca.file", value: path, expected: "a readable PEM file")
            }
            self.caFile = path
        }

        self.timeout = 30_000
        if let text = value("smtp.timeout.ms") {
            guard let timeout = Int64(text), timeout > 0, timeout <= 86_400_000 else {
                throw ConfigurationError(key: "smtp.timeout.ms", value: text, expected: "a positive integer")
            }
            self.timeout = timeout
        }

        self.clientName = Self.localHostName() ?? "localhost"
    }

    /// This machine's host name (`gethostname`, no DNS look-up) when it is a plain domain name.
    private static func localHostName() -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let status = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) { characters in
                guard let base = characters.baseAddress else { return Int32(-1) }
                return gethostname(base, characters.count - 1)
            }
        }
        guard status == 0 else { return nil }
        let name = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-".utf8)
        guard !name.isEmpty, name.utf8.allSatisfy({ allowed.contains($0) }), !name.hasPrefix("."), !name.hasPrefix("-")
        else { return nil }
        return name
    }
}
