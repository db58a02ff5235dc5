import Logging
import ServiceKit

/// One e-mail to deliver.
struct OutgoingMessage: Sendable, Equatable {
    var to: String
    var subject: String
    var body: String
    /// The notification it delivers (for logs and test doubles).
    var notificationID: String
}

/// Delivers a notification's message to its recipient. `send` returns once the message was handed over; it throws
/// when it was not (the notification is then retried with backoff, unless the error is an
/// ``UndeliverableMessageError`` that says retrying cannot help). Implementations must not block a thread of the
/// cooperative pool or an event loop.
protocol NotificationSender: Sendable {
    /// Stored as the notification's `channel` (`log`, `smtp`).
    var channel: String { get }
    func send(_ message: OutgoingMessage) async throws
}

/// An error of a sender that can tell whether sending this message again can ever succeed.
///
/// When ``isUndeliverable`` is true (say the relay answered `550` to the recipient), the delivery loop records the
/// notification FAILED for good at once instead of retrying it. Any other error is retried with backoff.
protocol UndeliverableMessageError: Error {
    /// Whether this message can never be delivered as it is, whatever the number of attempts.
    var isUndeliverable: Bool { get }
}

/// The sender used when `SMTP_HOST` is unset (development, tests): writes each message to the service log at
/// `notice` level instead of e-mailing it. The notification's `channel` is `log`, so it is never mistaken for a mail.
struct LogSender: NotificationSender {
    let logger: Logger
    var channel: String { "log" }

    func send(_ message: OutgoingMessage) async throws {
        self.logger.notice(
            "notification (log delivery, no SMTP_HOST): \(message.body)",
            metadata: [
                "notification.id": "\(message.notificationID)", "notification.to": "\(message.to)",
                "notification.subject": "\(message.subject)",
            ]
        )
    }
}

/// The sender the configuration asks for: ``SMTPSender`` when `SMTP_HOST` is set and not empty, ``LogSender``
/// otherwise.
///
/// The SMTP keys (`SMTP_HOST`, `SMTP_PORT`, `SMTP_FROM`, `SMTP_USERNAME`, `SMTP_PASSWORD`, `SMTP_TLS`,
/// `SMTP_CA_FILE`, `SMTP_TIMEOUT_MS`) are described on ``SMTPConfiguration``; the password is read as a secret.
/// - Throws: ``ConfigurationError`` when `SMTP_HOST` is set and another SMTP key is missing (`SMTP_FROM`), malformed
///   or unusable (an unreadable `SMTP_CA_FILE`): the service refuses to start rather than fail every delivery.
func makeSender(_ runtime: ServiceRuntime) throws -> any NotificationSender {
    guard let configuration = try SMTPConfiguration(setting: { runtime.setting($0, isSecret: $1) }) else {
        return LogSender(logger: runtime.logger)
    }
    return try SMTPSender(configuration: configuration, logger: runtime.logger)
}
