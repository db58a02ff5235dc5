import Foundation
import KafkaBus
import Logging
import MongoStore
import ServiceKit

/// Turns `user-created`, `user-deleted` and `payment-events` into stored `PENDING` notifications, one per event and
/// user (contract §4 "notification generic handler", with §9.26 and §9.35 fixed).
///
/// Idempotent: the notification's `_id` is `"<eventId>:<userId>"`, so a redelivered or replayed event inserts nothing
/// new (and, since delivery is driven by the stored status, sends nothing twice). Events without an `eventId` (older
/// producers) get one derived from their position, `kafka:<topic>:<partition>:<offset>`, which a redelivery repeats.
/// Nothing is sent here: ``NotificationDelivery`` sends and retries, so the consumer never blocks on a mail relay or
/// the user service. A payload that cannot be understood is logged and skipped; only transient store failures are
/// thrown (the message is then retried in place).
struct NotificationEventsConsumer: Sendable {
    static let topics = ["user-created", "user-deleted", "payment-events"]

    /// The consumer group ids.
    struct Groups: Sendable {
        var userCreated: String
        var userDeleted: String
        var payment: String

        /// The original's group ids (contract §4), so committed offsets can be taken over.
        static var original: Groups {
            Groups(userCreated: "notif-user-group", userDeleted: "notif-userdel-group", payment: "notif-payment-group")
        }
    }

    let repository: NotificationRepository

    /// One consumer per topic and group, as the original had.
    /// - Throws: `KafkaBusError` `.configuration`.
    func makeConsumers(runtime: ServiceRuntime, groups: Groups) throws -> [KafkaBusConsumer] {
        [
            try runtime.makeConsumer(groupID: groups.userCreated, topics: ["user-created"]) { message, logger in
                try await self.handle(message, logger: logger)
            },
            try runtime.makeConsumer(groupID: groups.userDeleted, topics: ["user-deleted"]) { message, logger in
                try await self.handle(message, logger: logger)
            },
            try runtime.makeConsumer(groupID: groups.payment, topics: ["payment-events"]) { message, logger in
                try await self.handle(message, logger: logger)
            },
        ]
    }

    /// Stores the notification an event asks for, unless it is already stored.
    /// - Returns: the stored notification's key, or `nil` when the event was skipped.
    /// - Throws: only transient store errors.
    @discardableResult
    func handle(_ message: KafkaBusMessage, logger: Logger) async throws -> String? {
        let event: NotificationEvent
        do {
            event = try NotificationEvent.decode(topic: message.topic, payload: message.value)
        } catch {
            logger.warning(
                "skipping an event that cannot become a notification",
                metadata: ["reason": "\(error)", "event.bytes": "\(message.value.count)"]
            )
            return nil
        }
        let eventID = event.eventId ?? "kafka:\(message.topic):\(message.partition):\(message.offset)"
        let record = NotificationRecord(
            id: NotificationRecord.key(eventID: eventID, userID: event.userId),
            eventId: eventID,
            userId: event.userId,
            orderId: event.orderId,
            type: event.kind.rawValue,
            message: event.message,
            email: event.email,
            status: .pending,
            attempts: 0,
            createdAt: Date().epochMilliseconds,
            nextAttemptAt: Date().epochMilliseconds
        )
        do {
            if try await self.repository.insertIfAbsent(record) {
                logger.info(
                    "notification stored",
                    metadata: ["notification.id": "\(record.id)", "notification.type": "\(record.type)"]
                )
            } else {
                logger.info("event already handled: nothing new stored", metadata: ["notification.id": "\(record.id)"])
            }
        } catch let error as MongoStoreError where !error.isRetriable && error.code != .shutdown {
            logger.error("skipping an event the store refused", metadata: ["error": "\(error)"])
            return nil
        }
        return record.id
    }
}
