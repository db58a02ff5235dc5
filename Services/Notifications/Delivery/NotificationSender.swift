import Logging

/// One e-mail to deliver.
struct OutgoingMessage: Sendable, Equatable {
    var to: String
    var subject: String
    var body: String
    /// The notification it delivers (for logs and test doubles).
    var notificationID: String
}

/// Delivers a notification's message to its recipient. `send` returns once the message was handed over; it throws
/// when it was not (the notification is then retried with backoff). Implementations must not block a thread of the
/// cooperative pool or an event loop.
protocol NotificationSender: Sendable {
    /// Stored as the notification's `channel` (`log`, `smtp`).
    var channel: String { get }
    func send(_ message: OutgoingMessage) async throws
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
