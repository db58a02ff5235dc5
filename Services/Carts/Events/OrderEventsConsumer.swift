import KafkaBus
import Logging
import MongoStore
import ServiceKit
import StorefrontContracts

/// Makes the cart follow its orders (`order-events`, group `cart-service-order-group`): `order-confirmed` → the lines
/// checked out for the order leave the cart; `order-failed`, `order-cancelled`, `order-rejected` → they go back into
/// it, added to whatever the customer put there since. Other types change nothing.
///
/// Each change is one update conditioned on the order's checkout still being there, so redelivery, a replay from the
/// earliest offset, or a cart service that was down and catches up all apply it exactly once. An event without 24-hex
/// `orderId` and `userId` is dead-lettered; a transient store failure is retried in place by the consumer.
struct OrderEventsConsumer: Sendable {
    /// The consumer group's id (the original had no such consumer; the name follows its pattern).
    static let originalGroup = ConsumerGroups.cartOrders.id

    let repository: CartRepository

    func makeConsumer(runtime: ServiceRuntime, groupID: String) throws -> KafkaBusConsumer {
        try runtime.makeConsumer(groupID: groupID, handler: self.orders)
    }

    var orders: EventHandler<OrderEvent> {
        EventHandler(Topics.orderEvents) { event, context in try await self.handle(event, context: context) }
    }

    func handle(_ event: OrderEvent, context: EventContext) async throws {
        guard let kind = event.kind, kind == .confirmed || kind.endsWithoutSale else { return }
        guard let orderID = event.orderId.flatMap(MongoObjectID.init)?.hex,
            let userID = event.userId.flatMap(MongoObjectID.init)?.hex
        else { throw UnprocessableEvent("an order event without a valid orderId and userId") }
        let metadata: Logger.Metadata = ["cart.user": "\(userID)", "order.id": "\(orderID)"]
        if kind == .confirmed {
            if try await self.repository.completeCheckout(userID: userID, orderID: orderID) {
                context.logger.info("ordered lines left the cart", metadata: metadata)
            }
        } else if try await self.repository.releaseCheckout(userID: userID, orderID: orderID) {
            context.logger.info("checkout released: its lines are back in the cart", metadata: metadata)
        }
    }
}
