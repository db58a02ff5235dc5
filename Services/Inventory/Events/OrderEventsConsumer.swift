import KafkaBus
import Logging
import MongoStore
import ServiceKit
import StorefrontContracts

/// Gives an order's held stock back when the order ends without a sale (`order-events`, group
/// `inventory-order-group`): `order-failed`, `order-cancelled`, `order-rejected` release the units held for the order
/// (``Reservations/release(orderID:)``); other types change nothing.
///
/// The order service enters those states in a transaction that writes the event, and then withdraws the reservation
/// itself as well (so its answer finds the stock back); this consumer is what makes the release happen when that
/// call does not (the order service crashed between the two, or could not reach inventory). Idempotent under
/// redelivery, replays and late events: a reservation already withdrawn, lost or sold changes nothing. An event
/// without a 24-hex `orderId` is dead-lettered; a reservation still being made is retried in place by the consumer.
struct OrderEventsConsumer: Sendable {
    /// The consumer group's id (the original had no such consumer).
    static let originalGroup = ConsumerGroups.inventoryOrders.id

    let reservations: Reservations

    func makeConsumer(runtime: ServiceRuntime, groupID: String = Self.originalGroup) throws -> KafkaBusConsumer {
        try runtime.makeConsumer(groupID: groupID, handler: self.orders)
    }

    var orders: EventHandler<OrderEvent> {
        EventHandler(Topics.orderEvents) { event, context in try await self.handle(event, context: context) }
    }

    func handle(_ event: OrderEvent, context: EventContext) async throws {
        guard let kind = event.kind, kind.endsWithoutSale else { return }
        guard let orderID = event.orderId.flatMap(MongoObjectID.init)?.hex else {
            throw UnprocessableEvent("an order event without a valid orderId")
        }
        var logger = context.logger
        logger[metadataKey: "order.id"] = "\(orderID)"
        logger[metadataKey: "event.id"] = "\(event.eventId ?? "-")"
        switch try await self.reservations.release(orderID: orderID) {
        case .released(let reservation):
            logger.info(
                "\(kind.rawValue): reservation withdrawn; what it held is back on sale",
                metadata: ["reservation.id": "\(reservation.id)"]
            )
        case .remembered:
            logger.info("\(kind.rawValue) before any reservation: a later reserve for the order holds nothing")
        case .unchanged(let reservation):
            logger.debug(
                "\(kind.rawValue): nothing to release",
                metadata: [
                    "reservation.id": "\(reservation.id)", "reservation.status": "\(reservation.status.rawValue)",
                ]
            )
        case .notReady:
            throw PaymentEventsConsumer.NotReady()  // being reserved: the consumer retries shortly
        }
    }
}
