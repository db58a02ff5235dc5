import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceKit

/// The sender used when `SMTP_HOST` is set: e-mails each message through the configured relay
/// (``SMTPConfiguration``). The notification's `channel` is `smtp`.
///
/// One connection per message, on SwiftNIO (nothing blocks a thread): greeting → EHLO (HELO only when EHLO is
/// refused with 5xx) → STARTTLS when offered (or TLS from the first byte with `SMTP_TLS=implicit`) → EHLO again →
/// AUTH PLAIN (LOGIN when PLAIN is not offered) when credentials are configured → MAIL FROM → RCPT TO → DATA → QUIT.
/// Every reply code is checked; a failure throws an ``SMTPError`` naming the command, the code and the server's text,
/// permanent (5xx) or transient (4xx, I/O, timeout, TLS). The certificate and the host name are always verified;
/// credentials never travel in clear text.
///
/// `send` returns once the server accepted the message (its reply to the content); a failure of QUIT after that
/// is only logged, so a delivered message is never reported as failed (and sent twice).
struct SMTPSender: NotificationSender {
    let configuration: SMTPConfiguration
    let logger: Logger
    private let tlsContext: NIOSSLContext

    var channel: String { "smtp" }

    /// - Throws: ``ConfigurationError`` (`smtp.ca.file`) when the CA file holds no PEM certificate, or the TLS
    ///   context cannot be made from it.
    init(configuration: SMTPConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        if let path = configuration.caFile {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(path)
            } catch {
                throw ConfigurationError(key: "smtp.ca.file", value: path, expected: "a PEM file of CA certificates")
            }
            guard !certificates.isEmpty else {
                throw ConfigurationError(key: "smtp.ca.file", value: path, expected: "a PEM file of CA certificates")
            }
            tls.additionalTrustRoots = [.certificates(certificates)]
        }
        do {
            self.tlsContext = try NIOSSLContext(configuration: tls)
        } catch {
            throw ConfigurationError(
                key: configuration.caFile == nil ? "smtp.host" : "smtp.ca.file",
                value: configuration.caFile ?? configuration.host,
                expected: "a usable TLS client configuration (\(error))"
            )
        }
    }

    /// The name the certificate must be valid for, also sent as SNI; `nil` for an IP address (the certificate is
    /// then verified for the address itself).
    private var serverHostname: String? {
        (try? SocketAddress(ipAddress: self.configuration.host, port: 0)) == nil ? self.configuration.host : nil
    }

    func send(_ message: OutgoingMessage) async throws {
        let mail = try SMTPMessage(message, from: self.configuration.from, date: Date())
        let connection = try await SMTPConnection.open(
            host: self.configuration.host,
            port: self.configuration.port,
            implicitTLS: self.configuration.tlsMode == .implicit
                ? (self.tlsContext, self.serverHostname) : nil,
            timeout: .milliseconds(self.configuration.timeout)
        )
        do {
            try await withTaskCancellationHandler {
                let secure = try await self.deliver(mail, over: connection)
                self.logger.debug(
                    "smtp: message accepted",
                    metadata: ["notification.id": "\(message.notificationID)", "smtp.tls": "\(secure)"]
                )
                await self.quit(connection)
            } onCancel: {
                connection.abort()
            }
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
    }

    /// The session up to the server's acceptance of the content.
    /// - Returns: whether the session was encrypted.
    private func deliver(_ mail: SMTPMessage, over connection: SMTPConnection) async throws -> Bool {
        try Self.expect(await connection.readReply(for: "greeting"), 220, command: "greeting")
        var capabilities = try await self.hello(connection)
        var secure = self.configuration.tlsMode == .implicit
        if !secure {
            if capabilities["STARTTLS"] != nil {
                try Self.expect(await connection.send("STARTTLS", as: "STARTTLS"), 220, command: "STARTTLS")
                try await connection.startTLS(context: self.tlsContext, serverHostname: self.serverHostname)
                let reply = try await connection.send("EHLO \(self.configuration.clientName)", as: "EHLO")
                try Self.expect(reply, 250, command: "EHLO")
                capabilities = reply.extensions
                secure = true
            } else if self.configuration.tlsMode == .required {
                throw SMTPError(
                    .tlsUnavailable,
                    command: "EHLO",
                    reason: "the server does not offer STARTTLS and SMTP_TLS=required"
                )
            } else if self.configuration.credentials != nil {
                throw SMTPError(
                    .tlsUnavailable,
                    command: "EHLO",
                    reason: "the server does not offer STARTTLS: credentials are never sent in clear text"
                )
            }
        }
        if let credentials = self.configuration.credentials {
            try await self.authenticate(credentials, capabilities: capabilities, over: connection)
        }
        try Self.expect(
            await connection.send("MAIL FROM:<\(mail.sender)>", as: "MAIL FROM"),
            250,
            command: "MAIL FROM"
        )
        try Self.expect(
            await connection.send("RCPT TO:<\(mail.recipient)>", as: "RCPT TO"),
            250,
            251,
            command: "RCPT TO"
        )
        try Self.expect(await connection.send("DATA", as: "DATA"), 354, command: "DATA")
        try Self.expect(await connection.send(bytes: mail.content, as: "message"), 250, command: "message")
        return secure
    }

    /// EHLO, or HELO when the server refuses EHLO for good. Returns the extensions offered (none after HELO).
    private func hello(_ connection: SMTPConnection) async throws -> [String: [String]] {
        let name = self.configuration.clientName
        let reply = try await connection.send("EHLO \(name)", as: "EHLO")
        if reply.code == 250 { return reply.extensions }
        guard reply.isPermanentFailure else { throw SMTPError(.rejected, command: "EHLO", reply: reply, reason: "") }
        try Self.expect(await connection.send("HELO \(name)", as: "HELO"), 250, command: "HELO")
        return [:]
    }

    /// AUTH PLAIN (initial response), or AUTH LOGIN when PLAIN is not offered. The exchange is never quoted in
    /// errors or logs.
    private func authenticate(
        _ credentials: SMTPConfiguration.Credentials,
        capabilities: [String: [String]],
        over connection: SMTPConnection
    ) async throws {
        guard let mechanisms = capabilities["AUTH"] else {
            throw SMTPError(
                .authenticationUnavailable,
                command: "EHLO",
                reason: "SMTP_USERNAME is set but the server does not offer AUTH"
            )
        }
        if mechanisms.contains("PLAIN") {
            let token = Data(([0] + Array(credentials.username.utf8) + [0] + Array(credentials.password.utf8)))
                .base64EncodedString()
            try Self.expect(await connection.send("AUTH PLAIN \(token)", as: "AUTH PLAIN"), 235, command: "AUTH PLAIN")
        } else if mechanisms.contains("LOGIN") {
            try Self.expect(await connection.send("AUTH LOGIN", as: "AUTH LOGIN"), 334, command: "AUTH LOGIN")
            let user = Data(credentials.username.utf8).base64EncodedString()
            try Self.expect(await connection.send(user, as: "AUTH LOGIN"), 334, command: "AUTH LOGIN")
            let password = Data(credentials.password.utf8).base64EncodedString()
            try Self.expect(await connection.send(password, as: "AUTH LOGIN"), 235, command: "AUTH LOGIN")
        } else {
            throw SMTPError(
                .authenticationUnavailable,
                command: "EHLO",
                reason: "the server offers AUTH \(mechanisms.joined(separator: " ")), but not PLAIN or LOGIN"
            )
        }
    }

    /// QUIT, best effort: the message is already accepted.
    private func quit(_ connection: SMTPConnection) async {
        do {
            _ = try await connection.send("QUIT", as: "QUIT")
        } catch {
            self.logger.debug("smtp: QUIT failed after the message was accepted", metadata: ["error": "\(error)"])
        }
    }

    private static func expect(_ reply: SMTPReply, _ codes: Int..., command: String) throws {
        guard codes.contains(reply.code) else {
            throw SMTPError(.rejected, command: command, reply: reply, reason: "")
        }
    }
}
