/// Why an SMTP delivery failed: which step, the server's reply when there was one, and whether retrying can help.
///
/// The description names the command (`RCPT TO`, `AUTH PLAIN`, …), the reply code and the server's text, never an
/// argument that could hold a secret (the AUTH exchange is never quoted) and never the password.
struct SMTPError: Error, CustomStringConvertible {
    /// What went wrong, extensible without breaking a `switch`.
    struct Code: Hashable, Sendable, CustomStringConvertible {
        let description: String

        /// The server answered a command with a reply code other than the expected one.
        static let rejected = Code(description: "rejected")
        /// The connection could not be made, or broke (refused, reset, closed by the server).
        static let connectionFailed = Code(description: "connection failed")
        /// No connection or no reply within `SMTP_TIMEOUT_MS`.
        static let timedOut = Code(description: "timed out")
        /// The TLS handshake or the verification of the server's certificate or host name failed.
        static let tlsFailed = Code(description: "TLS failed")
        /// The server did not offer STARTTLS where TLS is needed: `SMTP_TLS=required`, or credentials to send.
        static let tlsUnavailable = Code(description: "TLS unavailable")
        /// Credentials are configured but the server offers no mechanism this client speaks (PLAIN, LOGIN).
        static let authenticationUnavailable = Code(description: "authentication unavailable")
        /// The server broke the protocol (a malformed reply, data where none was due).
        static let protocolViolation = Code(description: "protocol violation")
        /// The message cannot be sent as it is (a line break in an address or the subject): nothing was sent.
        static let invalidMessage = Code(description: "invalid message")
    }

    let code: Code
    /// The step that failed: `connect`, `greeting`, `EHLO`, `HELO`, `STARTTLS`, `AUTH PLAIN`, `AUTH LOGIN`,
    /// `MAIL FROM`, `RCPT TO`, `DATA`, `message` (the content after DATA) or `compose` (before connecting).
    let command: String
    /// The server's reply, when the failure is a reply.
    let reply: SMTPReply?
    /// What happened, in words.
    let reason: String

    init(_ code: Code, command: String, reply: SMTPReply? = nil, reason: String) {
        self.code = code
        self.command = command
        self.reply = reply
        self.reason = reason
    }

    /// The reply code, when the failure is a reply (e.g. 550).
    var replyCode: Int? { self.reply?.code }

    /// Whether the failure is permanent: a 5xx reply, or a message that cannot be sent. 4xx replies, I/O errors,
    /// timeouts and TLS failures are transient (the same attempt later may succeed).
    var isPermanent: Bool {
        if let reply = self.reply { return reply.isPermanentFailure }
        return self.code == .invalidMessage
    }

    /// Whether the failure is transient (see ``isPermanent``).
    var isTransient: Bool { !self.isPermanent }

    var description: String {
        var text = "SMTP \(self.command) \(self.code)"
        if let reply = self.reply { text += ": \(reply.code) \(reply.text)" }
        if !self.reason.isEmpty { text += reply == nil ? ": \(self.reason)" : " (\(self.reason))" }
        return text + (self.isPermanent ? " [permanent]" : " [transient]")
    }
}

extension SMTPError: UndeliverableMessageError {
    /// Permanent failures of this message itself: a 5xx to `RCPT TO` (the recipient) or to `DATA` or the content,
    /// or a message that cannot be composed. A 5xx earlier in the session (EHLO, AUTH, MAIL FROM) is a problem of
    /// the relay or of our configuration that every message shares: those are retried like transient failures, so a
    /// fixed configuration still delivers them.
    var isUndeliverable: Bool {
        self.isPermanent && ["RCPT TO", "DATA", "message", "compose"].contains(self.command)
    }
}
