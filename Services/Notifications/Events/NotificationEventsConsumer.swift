import Foundation
import KafkaBus
import Logging
import MongoStore
import ServiceKit
import StorefrontContracts

/// Turns `user-created`, `user-deleted`, `payment-events` and the `order-shipped` and `order-delivered` events of
/// `order-events` into stored `PENDING` notifications, one per event and user (contract §4 "notification generic
/// handler", with §9.26 and §9.35 fixed). The order's other events are skipped without storing anything: they are not
/// news to the customer (see `NotificationEvent.init(_:)` for `OrderEvent`).
///
/// Idempotent: the notification's `_id` is `"<eventId>:<userId>"`, so a redelivered or replayed event inserts nothing
/// new (and, since delivery is driven by the stored status, sends nothing twice). Events without an `eventId` (older
/// producers) get one derived from their position, `kafka:<topic>:<partition>:<offset>`, which a redelivery repeats.
/// Nothing is sent here: ``NotificationDelivery`` sends and retries, so the consumer never blocks on a mail relay or
/// the user service. A payload that cannot become a notification is dead-lettered (`NotificationEvent` throws
/// `UnprocessableEvent`); transient store failures are retried in place.
struct NotificationEventsConsumer: Sendable {
    /// The consumer group ids.
    struct Groups: Sendable {
        var userCreated: String
        var userDeleted: String
        var payment: String
        var orders: String

        /// The original's group ids (contract §4), so committed offsets can be taken over, and one named after them
        /// for `order-events`, which the original did not have.
        static var original: Groups {
            Groups(
                userCreated: ConsumerGroups.notificationUserCreated.id,
                userDeleted: ConsumerGroups.notificationUserDeleted.id,
                payment: ConsumerGroups.notificationPayments.id,
                orders: ConsumerGroups.notificationOrders.id
            )
        }
    }

    let repository: NotificationRepository

    /// One consumer per topic and group, as the original had (plus `order-events`'s).
    /// - Throws: `KafkaBusError` `.configuration`.
    func makeConsumers(runtime: ServiceRuntime, groups: Groups) throws -> [KafkaBusConsumer] {
        [
            try runtime.makeConsumer(groupID: groups.userCreated, handler: self.userCreated),
            try runtime.makeConsumer(groupID: groups.userDeleted, handler: self.userDeleted),
            try runtime.makeConsumer(groupID: groups.payment, handler: self.payments),
            try runtime.makeConsumer(groupID: groups.orders, handler: self.orders),
        ]
    }

    var userCreated: EventHandler<UserCreatedEvent> {
        EventHandler(Topics.userCreated) { event, context in
            try await self.store(try NotificationEvent(event), context)
        }
    }

    var userDeleted: EventHandler<UserDeletedEvent> {
        EventHandler(Topics.userDeleted) { event, context in
            try await self.store(try NotificationEvent(event), context)
        }
    }

    var payments: EventHandler<PaymentEvent> {
        EventHandler(Topics.paymentEvents) { event, context in
            try await self.store(try NotificationEvent(event), context)
        }
    }

    /// `order-shipped` and `order-delivered`; the order's other events are skipped and store nothing.
    var orders: EventHandler<OrderEvent> {
        EventHandler(Topics.orderEvents) { event, context in
            guard let notification = try NotificationEvent(event) else {
                context.logger.debug("order event not notified", metadata: ["event.type": "\(event.type ?? "")"])
                return
            }
            try await self.store(notification, context)
        }
    }

    /// Handles one message of any of the four topics exactly as its consumer does, and tells which notification it
    /// stored: for tests.
    /// - Returns: the stored notification's key, or `nil` when the event was skipped.
    /// - Throws: only transient store errors.
    @discardableResult
    func handle(_ message: KafkaBusMessage, logger: Logger) async throws -> String? {
        let event: NotificationEvent?
        switch message.topic {
        case Topics.userCreated.name:
            event = (try? self.userCreated.decode(message)).flatMap { try? NotificationEvent($0) }
        case Topics.userDeleted.name:
            event = (try? self.userDeleted.decode(message)).flatMap { try? NotificationEvent($0) }
        case Topics.paymentEvents.name:
            event = (try? self.payments.decode(message)).flatMap { try? NotificationEvent($0) }
        case Topics.orderEvents.name:
            event = (try? self.orders.decode(message)).flatMap { try? NotificationEvent($0) }
        default: event = nil
        }
        guard let event else { return nil }
        do {
            return try await self.store(event, EventContext(message, logger: logger))
        } catch let error as MongoStoreError where !error.isRetriable && error.code != .shutdown {
            return nil
        }
    }

    /// Stores the notification an event asks for, unless it is already stored.
    /// - Returns: the stored notification's key.
    /// - Throws: store errors (the consumer retries transient ones).
    @discardableResult
    private func store(_ event: NotificationEvent, _ context: EventContext) async throws -> String {
        let eventID = event.eventId ?? context.positionID
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
        if try await self.repository.insertIfAbsent(record) {
            context.logger.info(
                "notification stored",
                metadata: ["notification.id": "\(record.id)", "notification.type": "\(record.type)"]
            )
        } else {
            context.logger.info(
                "event already handled: nothing new stored",
                metadata: ["notification.id": "\(record.id)"]
            )
        }
        return record.id
    }
}
