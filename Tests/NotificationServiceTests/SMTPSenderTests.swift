import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import MongoStore
import ServiceKit
import StorefrontContracts
import TestSupport
import Testing

@testable import NotificationService

/// ``SMTPSender`` against the real local SMTP server (scripts/dev-smtp.py, aiosmtpd): what the server received, over
/// which connection, with which login; and what the sender refuses to do.
@Suite(.timeLimit(.minutes(3)))
struct SMTPSenderTests {
    @Test("STARTTLS with a private CA: delivered over TLS; headers and a UTF-8 body with dot lines arrive intact")
    func startTLSWithPrivateCA() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let server = try await DevSMTPServer.start(.startTLS(pki.serverCertificate(for: ["localhost"])))
        let sender = try SMTPTests.sender(
            server,
            ["smtp.ca.file": pki.caFile, "smtp.from": "Störefront <no-reply@shop.example>"]
        )
        let body = """
            Hello Nora,
            .a line that starts with a dot
            ..and one with two
            .
            Grüße, ünïcödé ✓ — €12.50
            a line with = signs and a trailing space\u{20}
            \(String(repeating: "long line 0123456789 ", count: 12))
            """
        let message = SMTPTests.message(subject: "Ihre Bestellung ✓ — Grüße aus dem Shop, ünïcödé überall", body: body)
        #expect(sender.channel == "smtp")
        try await sender.send(message)
        try await sender.send(message)  // a retry of the same notification
        await server.stop()

        let received = try server.received()
        try #require(received.count == 2, "\(server.log)")
        let mail = received[0]
        #expect(mail.tls)
        #expect(mail.tls_version?.hasPrefix("TLSv1.") == true)
        #expect(mail.mail_from == "no-reply@shop.example")
        #expect(mail.rcpt_tos == ["nora@example.com"])
        #expect(mail.login == nil)
        #expect(mail.decodedHeader("From") == "Störefront <no-reply@shop.example>")
        #expect(mail.headers["to"] == "nora@example.com")
        #expect(mail.decodedHeader("Subject") == message.subject)
        #expect(mail.headers["subject"]?.hasPrefix("=?utf-8?b?") == true)
        #expect(mail.headers["mime-version"] == "1.0")
        #expect(mail.headers["content-type"] == "text/plain; charset=utf-8")
        #expect(mail.headers["content-transfer-encoding"] == "quoted-printable")
        let id = message.notificationID.replacingOccurrences(of: ":", with: "%3A")
        #expect(mail.headers["message-id"] == "<\(id)@shop.example>")
        #expect(received[1].headers["message-id"] == mail.headers["message-id"])  // stable across attempts
        let date = try #require(mail.headers["date"])
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let sent = try #require(formatter.date(from: date), "Date: \(date)")
        #expect(abs(sent.timeIntervalSinceNow) < 120)
        // The decoded body is the text with CRLF line ends: the dot lines survived the dot-stuffing.
        #expect(mail.body == body.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n")
        // 7-bit, CRLF only, no line over 78 characters.
        #expect(mail.raw.allSatisfy { $0 < 0x80 })
        let lines = String(decoding: mail.raw, as: UTF8.self).components(separatedBy: "\r\n")
        #expect(lines.filter { $0.count > 76 || $0.contains("\n") || $0.contains("\r") } == [])
    }

    @Test("STARTTLS with a certificate the system does not trust (no SMTP_CA_FILE): TLS error, nothing received")
    func untrustedCertificate() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let server = try await DevSMTPServer.start(.startTLS(pki.serverCertificate(for: ["localhost"])))
        let sender = try SMTPTests.sender(server)
        let error = await SMTPTests.smtpError { try await sender.send(SMTPTests.message()) }
        await server.stop()
        #expect(error?.code == .tlsFailed)
        #expect(error?.isTransient == true)
        #expect("\(error.map { "\($0)" } ?? "")".contains("CERTIFICATE_VERIFY_FAILED"))
        #expect(try server.received().isEmpty)
    }

    @Test("a certificate for another host name: TLS error, nothing received")
    func hostNameMismatch() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let server = try await DevSMTPServer.start(.startTLS(pki.serverCertificate(for: ["mail.other.example"])))
        let sender = try SMTPTests.sender(server, ["smtp.ca.file": pki.caFile])
        let error = await SMTPTests.smtpError { try await sender.send(SMTPTests.message()) }
        await server.stop()
        #expect(error?.code == .tlsFailed)
        #expect("\(error.map { "\($0)" } ?? "")".contains("localhost"))
        #expect(try server.received().isEmpty)
    }

    @Test("implicit TLS (SMTP_TLS=implicit): delivered over TLS")
    func implicitTLS() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let server = try await DevSMTPServer.start(.implicitTLS(pki.serverCertificate(for: ["localhost"])))
        let sender = try SMTPTests.sender(server, ["smtp.ca.file": pki.caFile, "smtp.tls": "implicit"])
        try await sender.send(SMTPTests.message(body: "over implicit TLS"))
        await server.stop()
        let received = try server.received()
        try #require(received.count == 1, "\(server.log)")
        #expect(received[0].tls)
        #expect(received[0].body == "over implicit TLS\r\n")
    }

    @Test("implicit TLS against an untrusted certificate: TLS error, nothing received")
    func implicitTLSUntrusted() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let server = try await DevSMTPServer.start(.implicitTLS(pki.serverCertificate(for: ["localhost"])))
        let sender = try SMTPTests.sender(server, ["smtp.tls": "implicit"])
        let error = await SMTPTests.smtpError { try await sender.send(SMTPTests.message()) }
        await server.stop()
        #expect(error?.code == .tlsFailed)
        #expect(try server.received().isEmpty)
    }

    @Test("no STARTTLS offered, no credentials (auto): delivered in plain text")
    func plainTextWithoutCredentials() async throws {
        let server = try await DevSMTPServer.start()
        let sender = try SMTPTests.sender(server)
        try await sender.send(SMTPTests.message(to: "plain@example.com"))
        await server.stop()
        let received = try server.received()
        try #require(received.count == 1, "\(server.log)")
        #expect(!received[0].tls)
        #expect(received[0].rcpt_tos == ["plain@example.com"])
    }

    @Test("no STARTTLS offered, credentials configured: refused before AUTH, nothing received, no credentials sent")
    func noCredentialsInClearText() async throws {
        let server = try await DevSMTPServer.start(
            auth: .init(username: "mailer", password: "s3cret", allowPlaintext: true)
        )
        let sender = try SMTPTests.sender(server, ["smtp.username": "mailer", "smtp.password": "s3cret"])
        let error = await SMTPTests.smtpError { try await sender.send(SMTPTests.message()) }
        await server.stop()
        #expect(error?.code == .tlsUnavailable)
        #expect(try server.received().isEmpty)
        #expect(try server.authAttempts().isEmpty)
        #expect(!"\(error.map { "\($0)" } ?? "")".contains("s3cret"))
    }

    @Test("SMTP_TLS=required and no STARTTLS offered: error, nothing received")
    func requiredWithoutSTARTTLS() async throws {
        let server = try await DevSMTPServer.start()
        let sender = try SMTPTests.sender(server, ["smtp.tls": "required"])
        let error = await SMTPTests.smtpError { try await sender.send(SMTPTests.message()) }
        await server.stop()
        #expect(error?.code == .tlsUnavailable)
        #expect(try server.received().isEmpty)
    }

    @Test("AUTH PLAIN (and LOGIN when PLAIN is not offered) with the right credentials: delivered, login recorded")
    func authentication() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let certificate = try pki.serverCertificate(for: ["localhost"])
        for exclude in [[], ["PLAIN"]] {
            let server = try await DevSMTPServer.start(
                .startTLS(certificate, required: true),
                auth: .init(username: "mailer", password: "s3cret", exclude: exclude)
            )
            let sender = try SMTPTests.sender(
                server,
                ["smtp.ca.file": pki.caFile, "smtp.username": "mailer", "smtp.password": "s3cret"]
            )
            try await sender.send(SMTPTests.message())
            await server.stop()
            let received = try server.received()
            try #require(received.count == 1, "\(server.log)")
            #expect(received[0].login == "mailer")
            #expect(received[0].tls)
            let attempts = try server.authAttempts()
            #expect(attempts.map(\.mechanism) == [exclude.isEmpty ? "PLAIN" : "LOGIN"])
            #expect(attempts.map(\.success) == [true])
        }
    }

    @Test("a wrong password: error with 535, no secret in it, nothing received")
    func wrongPassword() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let server = try await DevSMTPServer.start(
            .startTLS(pki.serverCertificate(for: ["localhost"])),
            auth: .init(username: "mailer", password: "s3cret")
        )
        let sender = try SMTPTests.sender(
            server,
            ["smtp.ca.file": pki.caFile, "smtp.username": "mailer", "smtp.password": "wrong-pa55word"]
        )
        let error = await SMTPTests.smtpError { try await sender.send(SMTPTests.message()) }
        await server.stop()
        let description = error.map { "\($0)" } ?? ""
        #expect(error?.replyCode == 535)
        #expect(error?.command == "AUTH PLAIN")
        #expect(error?.isPermanent == true)
        #expect(error?.isUndeliverable == false)  // a configuration problem: every message shares it
        #expect(description.contains("535"))
        #expect(!description.contains("wrong-pa55word"))
        #expect(!description.contains(Data("\0mailer\0wrong-pa55word".utf8).base64EncodedString()))
        #expect(try server.received().isEmpty)
        #expect(try server.authAttempts().map(\.success) == [false])
    }

    @Test("a rejected recipient: 550, permanent and undeliverable, nothing received")
    func rejectedRecipient() async throws {
        let server = try await DevSMTPServer.start(rejecting: ["gone@example.com"])
        let sender = try SMTPTests.sender(server)
        let error = await SMTPTests.smtpError { try await sender.send(SMTPTests.message(to: "gone@example.com")) }
        await server.stop()
        #expect(error?.replyCode == 550)
        #expect(error?.command == "RCPT TO")
        #expect(error?.isPermanent == true)
        #expect(error?.isUndeliverable == true)
        #expect("\(error.map { "\($0)" } ?? "")".contains("550 5.1.1"))
        #expect(try server.received().isEmpty)
    }

    @Test("a line break in the recipient or the subject (header injection): refused, nothing received")
    func headerInjection() async throws {
        let server = try await DevSMTPServer.start()
        let sender = try SMTPTests.sender(server)
        for message in [
            SMTPTests.message(to: "nora@example.com\r\nBcc: everyone@example.com"),
            SMTPTests.message(to: "nora@example.com\nBcc: everyone@example.com"),
            SMTPTests.message(subject: "Hello\r\nBcc: everyone@example.com"),
            SMTPTests.message(subject: "Hello\rBcc: everyone@example.com"),
        ] {
            let error = await SMTPTests.smtpError { try await sender.send(message) }
            #expect(error?.code == .invalidMessage)
            #expect(error?.isUndeliverable == true)
        }
        await server.stop()
        #expect(try server.received().isEmpty)
    }

    @Test("nothing listens on the port: a transient connection error, at once")
    func unreachable() async throws {
        // "At once" means "not after waiting out SMTP_TIMEOUT_MS": with a 120 s timeout, anything under a minute
        // proves it, however busy the machine is.
        let sender = try SMTPTests.sender(nil, ["smtp.port": String(try FreePort.find()), "smtp.timeout.ms": "120000"])
        let start = ContinuousClock.now
        let error = await SMTPTests.smtpError { try await sender.send(SMTPTests.message()) }
        #expect(ContinuousClock.now - start < .seconds(60))
        #expect(error?.code == .connectionFailed)
        #expect(error?.command == "connect")
        #expect(error?.isTransient == true)
    }

    @Test("a server that accepts but never answers: a transient timeout after SMTP_TIMEOUT_MS")
    func silentServer() async throws {
        let server = try await DevSMTPServer.start()
        server.freeze()
        let sender = try SMTPTests.sender(server, ["smtp.timeout.ms": "500"])
        let start = ContinuousClock.now
        let error = await SMTPTests.smtpError { try await sender.send(SMTPTests.message()) }
        let elapsed = ContinuousClock.now - start
        await server.stop()
        // The timeout is the behaviour: not before it (less a little clock slack), and nowhere near "never".
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(30))
        #expect(error?.code == .timedOut)
        #expect(error?.command == "greeting")
        #expect(error?.isTransient == true)
    }
}

/// The SMTP settings as the service reads them at startup.
@Suite(.timeLimit(.minutes(2)))
struct SMTPConfigurationTests {
    static func configuration(_ values: [String: String]) throws -> SMTPConfiguration? {
        try SMTPConfiguration(setting: { key, _ in values[key] })
    }

    static func configurationError(_ values: [String: String]) -> ConfigurationError? {
        do {
            let configuration = try Self.configuration(values)
            if let configuration { _ = try SMTPSender(configuration: configuration, logger: SMTPTests.logger) }
        } catch let error as ConfigurationError {
            return error
        } catch {
            Issue.record("expected a ConfigurationError, got \(error)")
        }
        return nil
    }

    @Test("defaults; SMTP_HOST unset or empty means no SMTP")
    func defaults() throws {
        #expect(try Self.configuration([:]) == nil)
        #expect(try Self.configuration(["smtp.host": "", "smtp.from": "a@b.example"]) == nil)
        let configuration = try #require(
            try Self.configuration(["smtp.host": "mail.example", "smtp.from": "no-reply@shop.example", "smtp.tls": ""])
        )
        #expect(configuration.port == 587)
        #expect(configuration.tlsMode == .auto)
        #expect(configuration.timeout == 30_000)
        #expect(configuration.credentials == nil)
        #expect(configuration.caFile == nil)
        let implicit = try #require(
            try Self.configuration(["smtp.host": "mail.example", "smtp.from": "a@b.example", "smtp.tls": "IMPLICIT"])
        )
        #expect(implicit.port == 465)
        let credentials = try #require(
            try Self.configuration([
                "smtp.host": "mail.example", "smtp.from": "a@b.example", "smtp.username": "u", "smtp.password": "p4ss",
            ])?.credentials
        )
        #expect("\(credentials)" == "u:<redacted>")
    }

    @Test("SMTP_HOST without SMTP_FROM, a bad SMTP_TLS, an unreadable or non-PEM CA file, … are ConfigurationErrors")
    func errors() throws {
        let base = ["smtp.host": "mail.example", "smtp.from": "no-reply@shop.example"]
        let notPEM = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("ca"))
        try "not a certificate".write(to: notPEM, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: notPEM) }
        let cases: [(String, [String: String])] = [
            ("smtp.from", ["smtp.host": "mail.example"]),
            ("smtp.from", base.merging(["smtp.from": "not an address"]) { $1 }),
            ("smtp.from", base.merging(["smtp.from": "a@b.example\r\nBcc: x@y.example"]) { $1 }),
            ("smtp.tls", base.merging(["smtp.tls": "starttls-maybe"]) { $1 }),
            ("smtp.port", base.merging(["smtp.port": "70000"]) { $1 }),
            ("smtp.port", base.merging(["smtp.port": "smtp"]) { $1 }),
            ("smtp.timeout.ms", base.merging(["smtp.timeout.ms": "0"]) { $1 }),
            ("smtp.password", base.merging(["smtp.username": "mailer"]) { $1 }),
            ("smtp.username", base.merging(["smtp.password": "s3cret"]) { $1 }),
            ("smtp.ca.file", base.merging(["smtp.ca.file": "/nonexistent/ca.pem"]) { $1 }),
            ("smtp.ca.file", base.merging(["smtp.ca.file": notPEM.path]) { $1 }),
        ]
        for (key, values) in cases {
            let error = Self.configurationError(values)
            #expect(error?.key == key, "\(values)")
        }
        #expect(
            Self.configurationError(base.merging(["smtp.username": "u", "smtp.password": "s3cret!"]) { $1 }) == nil
        )
        let error = try #require(Self.configurationError(base.merging(["smtp.username": "mailer"]) { $1 }))
        #expect(!"\(error)".contains("s3cret"))
    }

    @Test("makeSender: LogSender without SMTP_HOST, SMTPSender with it, ConfigurationError when SMTP_FROM is missing")
    func makeSenderFromTheRuntime() async throws {
        let plain = try await TestRuntimes.make(.notification)
        #expect(try makeSender(plain).channel == "log")
        await plain.store.close()
        let smtp = try await TestRuntimes.make(
            .notification,
            overrides: ["smtp.host": "mail.example", "smtp.from": "no-reply@shop.example"]
        )
        #expect(try makeSender(smtp).channel == "smtp")
        await smtp.store.close()
        let broken = try await TestRuntimes.make(.notification, overrides: ["smtp.host": "mail.example"])
        #expect(throws: ConfigurationError.self) { try makeSender(broken) }
        await broken.store.close()
    }
}

/// The notification service with SMTP delivery configured, end to end: event → store → delivery loop → relay.
@Suite(.timeLimit(.minutes(3)))
struct SMTPDeliveryTests {
    /// Runs the app (its delivery loop) on `overrides` while `body` runs; `body` stores a notification through
    /// the consumer's handler and gets its id.
    static func withApp(
        _ overrides: [String: String],
        _ body:
            @escaping @Sendable (
                _ notify: @escaping @Sendable (String) async throws -> String,
                _ notifications: MongoCollection<NotificationRecord>
            ) async throws -> Void
    ) async throws {
        let runtime = try await TestRuntimes.make(
            .notification,
            overrides: [
                "notification.poll.interval.ms": "50", "notification.retry.base.ms": "50",
                "smtp.host": "localhost", "smtp.from": "Storefront <no-reply@shop.example>",
            ].merging(overrides) { $1 }
        )
        let app = try await NotificationService.buildApplication(runtime, consumerGroups: NotificationTests.groups())
        let consumer = NotificationEventsConsumer(repository: NotificationRepository(store: runtime.store))
        let notifications = NotificationTests.notifications(runtime)
        try await app.test(.router) { _ in
            try await body(
                { email in
                    let user = NotificationTests.newID()
                    return try #require(
                        try await consumer.handle(
                            NotificationTests.message(
                                Topics.userCreated.name,
                                #"{"email":"\#(email)","userId":"\#(user)","eventId":"e-smtp-\#(user)","type":"user-created"}"#
                            ),
                            logger: NotificationTests.logger
                        )
                    )
                },
                notifications
            )
        }
        await runtime.store.close()
    }

    @Test("SMTP_* set: the notification ends SENT with channel smtp, and the mail arrived over verified TLS")
    func sent() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let server = try await DevSMTPServer.start(.startTLS(pki.serverCertificate(for: ["localhost"]), required: true))
        try await Self.withApp(
            ["smtp.port": String(server.port), "smtp.ca.file": pki.caFile, "smtp.tls": "required"]
        ) { notify, notifications in
            let id = try await notify("welcome@example.com")
            #expect(
                try await eventually {
                    try await notifications.findOne(["_id": .string(id)])?.status == .sent
                }
            )
            let stored = try #require(try await notifications.findOne(["_id": .string(id)]))
            #expect(stored.channel == "smtp")
            #expect(stored.attempts == 1)
            #expect(stored.lastError == nil)
            let received = try server.received()
            try #require(received.count == 1, "\(server.log)")
            #expect(received[0].tls)
            #expect(received[0].rcpt_tos == ["welcome@example.com"])
            #expect(received[0].decodedHeader("Subject") == NotificationDelivery.subject)
            #expect(received[0].body == stored.message + "\r\n")
        }
        await server.stop()
    }

    @Test("the relay is down: FAILED with the error and the attempt count after NOTIFICATION_MAX_ATTEMPTS")
    func relayDown() async throws {
        let server = try await DevSMTPServer.start()
        let port = server.port
        await server.stop()  // nothing listens there any more
        try await Self.withApp(
            ["smtp.port": String(port), "notification.max.attempts": "2", "smtp.timeout.ms": "2000"]
        ) { notify, notifications in
            let id = try await notify("down@example.com")
            #expect(
                try await eventually {
                    let stored = try await notifications.findOne(["_id": .string(id)])
                    return stored?.status == .failed && stored?.nextAttemptAt == nil
                }
            )
            let stored = try #require(try await notifications.findOne(["_id": .string(id)]))
            #expect(stored.attempts == 2)
            #expect(stored.channel == nil)
            let error = try #require(stored.lastError)
            #expect(error.hasPrefix("SMTP connect connection failed"), "\(error)")
            #expect(error.hasSuffix("[transient]"), "\(error)")
        }
    }

    @Test("a recipient the relay rejects for good (550): FAILED after one attempt, not retried")
    func rejectedRecipient() async throws {
        let server = try await DevSMTPServer.start(rejecting: ["gone@example.com"])
        try await Self.withApp(["smtp.port": String(server.port), "notification.max.attempts": "5"]) {
            notify,
            notifications in
            let id = try await notify("gone@example.com")
            #expect(
                try await eventually {
                    try await notifications.findOne(["_id": .string(id)])?.status == .failed
                }
            )
            try await Task.sleep(for: .milliseconds(300))  // several poll intervals: no retry comes
            let stored = try #require(try await notifications.findOne(["_id": .string(id)]))
            #expect(stored.status == .failed)
            #expect(stored.attempts == 1)
            #expect(stored.nextAttemptAt == nil)
            #expect(stored.lastError?.contains("RCPT TO rejected: 550") == true, "\(stored.lastError ?? "")")
        }
        await server.stop()
        #expect(try server.received().isEmpty)
    }
}
