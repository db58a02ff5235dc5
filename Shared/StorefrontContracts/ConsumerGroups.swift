package import ServiceKit

/// A consumer group of the platform: its id, the service whose consumer it is, and the one topic it reads.
package struct ConsumerGroup: Sendable, Hashable {
    /// The group id (the original system's, where it had the consumer, so committed offsets carry over).
    package let id: String
    /// The service that runs the group's consumer: the one to stop before moving the group's offsets.
    package let service: StorefrontService
    /// The topic it consumes (logical name).
    package let topic: String

    package init(_ id: String, service: StorefrontService, topic: String) {
        self.id = id
        self.service = service
        self.topic = topic
    }
}

/// Every consumer group of the platform: the one place a group id is spelled. Services take their default group ids
/// from here; `storefront-admin` uses the table to list groups on a cluster that cannot list them (the dev broker) and
/// to say which service to stop before a replay.
package enum ConsumerGroups {
    /// Cart: `user-created` → an empty cart.
    package static let cartUserCreated = ConsumerGroup(
        "cart-service-user-created-group",
        service: .cart,
        topic: Topics.userCreated.name
    )
    /// Cart: `user-deleted` → the cart goes.
    package static let cartUserDeleted = ConsumerGroup(
        "cart-service-user-deleted-group",
        service: .cart,
        topic: Topics.userDeleted.name
    )
    /// Cart: `order-events` → checked-out lines leave or come back (the original had no such consumer).
    package static let cartOrders = ConsumerGroup(
        "cart-service-order-group",
        service: .cart,
        topic: Topics.orderEvents.name
    )
    /// Inventory: `payment-events` → reservations sold or released.
    package static let inventoryPayments = ConsumerGroup(
        "inventory-consumer-group",
        service: .inventory,
        topic: Topics.paymentEvents.name
    )
    /// Inventory: `order-events` → the held stock of orders that failed, were cancelled or rejected goes back on sale
    /// (the original had no such consumer).
    package static let inventoryOrders = ConsumerGroup(
        "inventory-order-group",
        service: .inventory,
        topic: Topics.orderEvents.name
    )
    /// Order: `payment-events` → orders confirmed or failed.
    package static let orderPayments = ConsumerGroup(
        "order-service-payment-group",
        service: .order,
        topic: Topics.paymentEvents.name
    )
    /// Order: `inventory-events` (`reservation-lost`) → orders failed and refunded.
    package static let orderInventory = ConsumerGroup(
        "order-service-inventory-group",
        service: .order,
        topic: Topics.inventoryEvents.name
    )
    /// Notification: `user-created`.
    package static let notificationUserCreated = ConsumerGroup(
        "notif-user-group",
        service: .notification,
        topic: Topics.userCreated.name
    )
    /// Notification: `user-deleted`.
    package static let notificationUserDeleted = ConsumerGroup(
        "notif-userdel-group",
        service: .notification,
        topic: Topics.userDeleted.name
    )
    /// Notification: `payment-events`.
    package static let notificationPayments = ConsumerGroup(
        "notif-payment-group",
        service: .notification,
        topic: Topics.paymentEvents.name
    )
    /// Notification: `order-events` (the original had no such consumer).
    package static let notificationOrders = ConsumerGroup(
        "notif-order-group",
        service: .notification,
        topic: Topics.orderEvents.name
    )

    /// Every group above, by service.
    package static let all: [ConsumerGroup] = [
        cartUserCreated, cartUserDeleted, cartOrders, inventoryPayments, inventoryOrders, orderPayments, orderInventory,
        notificationUserCreated, notificationUserDeleted, notificationPayments, notificationOrders,
    ]

    /// The group with id `id`, if it is one of the platform's.
    package static func named(_ id: String) -> ConsumerGroup? {
        self.all.first { $0.id == id }
    }
}
