import Foundation
import Logging
import MongoStore
import ServiceKit
import StorefrontContracts

/// The delivery loop (each pass run by a `PeriodicWorker` every `NOTIFICATION_POLL_INTERVAL_MS`): claims due
/// notifications one at a time, finds the recipient, sends, and records the outcome honestly: SENT, SKIPPED (no recipient), FAILED with the error and the attempt count (retried with
/// exponential backoff until `maxAttempts`, then final; final at once when the sender says the message is
/// undeliverable, see ``UndeliverableMessageError``). Runs beside the consumers, so they never wait for a relay.
///
/// Replicas: every instance runs this loop on the shared store. A claim is one atomic update that marks the
/// notification SENDING for the lease, and the attempt renews it every third of the lease while it runs, so another
/// replica takes a notification over only when its claimant died (and the lease lapsed), never while a slow relay is
/// still being talked to: each notification is sent by one attempt at a time.
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
                claimed = try await self.repository.claimDue(
                    dueBy: passStart,
                    now: Date().epochMilliseconds,
                    lease: self.policy.lease
                )
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

    /// One attempt for a claimed notification, holding the claim until it is recorded.
    private func attempt(_ notification: NotificationRecord) async {
        let renewal = Task { await self.keepClaim(notification) }
        defer { renewal.cancel() }
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

    /// Renews the claim every third of the lease until cancelled (the attempt ended) or the claim is gone.
    private func keepClaim(_ notification: NotificationRecord) async {
        let interval = Duration.milliseconds(max(self.policy.lease / 3, 1))
        while (try? await Task.sleep(for: interval)) != nil {
            do {
                let held = try await self.repository.renew(
                    notification,
                    now: Date().epochMilliseconds,
                    lease: self.policy.lease
                )
                if !held { return }
            } catch {
                // The lease still runs; the next renewal tries again.
                self.logger.warning(
                    "could not renew a notification's claim",
                    metadata: ["notification.id": "\(notification.id)", "error": "\(error)"]
                )
            }
        }
    }
}
