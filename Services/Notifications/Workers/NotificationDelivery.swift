import Foundation
import Logging
import MongoStore
import ServiceKit
import StorefrontContracts

/// The delivery loop (each pass run by a `PeriodicWorker` every `NOTIFICATION_POLL_INTERVAL_MS`): claims due
/// notifications one at a time, finds the recipient, sends, and records the outcome honestly: SENT, SKIPPED (no recipient), FAILED with the error and the attempt count (retried with
/// exponential backoff until `maxAttempts`, then final; final at once when the sender says the message is
/// undeliverable, see ``UndeliverableMessageError``). Runs beside the consumers, so they never wait for a relay.
final class NotificationDelivery: Sendable {
    static let subject = "Notification from Storefront"

    let repository: NotificationRepository
    let sender: any NotificationSender
    let users: UserClient
    let policy: DeliveryPolicy
    let logger: Logger

    init(
        repository: NotificationRepository,
        sender: any NotificationSender,
        users: UserClient,
        policy: DeliveryPolicy,
        logger: Logger
    ) {
        self.repository = repository
        self.sender = sender
        self.users = users
        self.policy = policy
        self.logger = logger
    }

    /// Delivers every notification that is due now. Store failures are logged (the next pass tries again).
    /// - Returns: how many attempts were made.
    @discardableResult
    func deliverDue() async -> Int {
        // One pass delivers what was due when it started: a notification whose retry falls due during the pass
        // waits for the next pass, instead of being retried again and again inside this one.
        let passStart = Date().epochMilliseconds
        var count = 0
        while !Task.isCancelled {
            let claimed: NotificationRecord?
            do {
                claimed = try await self.repository.claimDue(now: passStart, lease: self.policy.lease)
            } catch {
                self.logger.warning("notification delivery: store unavailable", metadata: ["error": "\(error)"])
                return count
            }
            guard let claimed else { return count }
            count += 1
            await self.attempt(claimed)
        }
        return count
    }

    /// One attempt for a claimed notification.
    private func attempt(_ notification: NotificationRecord) async {
        var logger = self.logger
        logger[metadataKey: "notification.id"] = "\(notification.id)"
        logger[metadataKey: "notification.attempt"] = "\(notification.attempts)"
        var email = notification.email
        do {
            if email == nil {
                switch try await self.users.email(of: notification.userId) {
                case let found?:
                    email = found
                case nil:
                    logger.warning("notification skipped: the user does not exist and the event had no e-mail")
                    try await self.repository.markSkipped(notification, reason: "user not found: no recipient")
                    return
                }
            }
            guard let email else { return }
            try await self.sender.send(
                OutgoingMessage(
                    to: email,
                    subject: Self.subject,
                    body: notification.message,
                    notificationID: notification.id
                )
            )
            try await self.repository.markSent(
                notification,
                email: email,
                channel: self.sender.channel,
                now: Date().epochMilliseconds
            )
            logger.info("notification sent", metadata: ["notification.channel": "\(self.sender.channel)"])
        } catch {
            let reason = String("\(error)".prefix(500))
            let undeliverable = (error as? any UndeliverableMessageError)?.isUndeliverable == true
            let final = undeliverable || notification.attempts >= self.policy.maxAttempts
            let retryAt =
                final ? nil : Date().epochMilliseconds + self.policy.backoff(afterAttempts: notification.attempts)
            logger.warning(
                undeliverable
                    ? "notification failed for good: undeliverable"
                    : final ? "notification failed for good" : "notification attempt failed; will retry",
                metadata: ["error": "\(reason)"]
            )
            do {
                try await self.repository.markFailed(notification, error: reason, email: email, retryAt: retryAt)
            } catch {
                // The claim lapses after the lease; the attempt is then retried.
                logger.warning("could not record a failed attempt", metadata: ["error": "\(error)"])
            }
        }
    }
}
