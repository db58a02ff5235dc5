import KafkaBus
package import ServiceKit

/// Every Kafka topic of the platform, with the event type it carries and its partition count: the one place a topic
/// is named. Producers, consumers, the dev broker, `compose/` and the tests all take their topics from here.
///
/// The names are the original system's (its clients and consumer groups depend on them); `KAFKA_TOPIC_PREFIX` is
/// added by the Kafka client, never here.
package enum Topics {
    /// An account was created (user service → cart, notification).
    package static let userCreated = EventTopic<UserCreatedEvent>("user-created", partitions: 3)
    /// An account was deleted (user service → cart, notification).
    package static let userDeleted = EventTopic<UserDeletedEvent>("user-deleted", partitions: 3)
    /// A charge succeeded or failed, or a refund was made (payment service → inventory, order, notification).
    package static let paymentEvents = EventTopic<PaymentEvent>("payment-events", partitions: 3)
    /// Stock news the order service must act on: `reservation-lost` (inventory service → order).
    package static let inventoryEvents = EventTopic<InventoryEvent>("inventory-events", partitions: 3)
    /// An order's life, one event per state it enters (order service → cart, notification).
    package static let orderEvents = EventTopic<OrderEvent>("order-events", partitions: 3)
    /// A product was created, changed or deleted (product service → every product instance's catalog view).
    package static let productEvents = EventTopic<ProductEvent>("product-events", partitions: 3)
    /// The latest state of a product's stock record (inventory service → every product instance's catalog view);
    /// in production a compacted topic (`cleanup.policy=compact`): only the latest state per product matters.
    package static let stockLevels = EventTopic<StockLevelEvent>("stock-levels", partitions: 3)

    /// Every event topic, in the order above.
    package static let all: [TopicDescriptor] = [
        userCreated.descriptor, userDeleted.descriptor, paymentEvents.descriptor, inventoryEvents.descriptor,
        orderEvents.descriptor, productEvents.descriptor, stockLevels.descriptor,
    ]

    /// The dead-letter topic of each event topic (`<topic>.dlq`, `KafkaBusDeadLetter`), where consumers put the
    /// messages they gave up on. One partition each: dead letters are few, and one partition lists them in the order
    /// they failed.
    package static let deadLetters: [TopicDescriptor] = all.map {
        TopicDescriptor(name: KafkaBusDeadLetter.topic(for: $0.name), partitions: 1)
    }

    /// Every topic the platform needs: the event topics, then their dead-letter topics. What the dev broker, the test
    /// topic sets and `compose/` create.
    package static let created: [TopicDescriptor] = all + deadLetters

    /// The prefix of the `index`th set of these topics that a dev broker creates up front (`dev-broker --topic-sets N`):
    /// `s<index>.`. A test run gives each test a set of its own, so no test sees another's events.
    package static func setPrefix(_ index: Int) -> String { "s\(index)." }
}
