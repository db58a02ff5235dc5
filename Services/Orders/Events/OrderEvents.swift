import Foundation
import KafkaBus
import Logging
import MongoStore
import ServiceKit
import ServiceLifecycle
import StorefrontContracts

/// Applies `payment-events` and `inventory-events` to orders. Every change is a guarded transition, so redelivery,
/// replay from the earliest offset and late events all end in the same state; an event without a valid order id or
/// outcome is dead-lettered (`UnprocessableEvent`); a transient failure is retried in place by the consumer.
///
/// `payment-events` (group `order-service-payment-group`):
/// - `success`: pending → confirmed (its `order-confirmed` takes the ordered lines out of the cart), for an order whose
///   `POST /order` did not confirm it on the charge's answer (the charge was only accepted, or the request died before
///   it could). For an order already `failed` or `cancelled` (payment outcome unknown at the time, or cancelled while
///   paying) the reservation is withdrawn (so inventory sells nothing for it, or puts back what it sold) and the
///   charge is refunded.
/// - `failed` / `failure` (the original's word): pending → failed.
/// - `refunded` (when `fullyRefunded` is not `false`): confirmed | cancelled → refunded, and the reservation is
///   withdrawn (its units back on sale).
///
/// `inventory-events` `reservation-lost` (group `order-service-inventory-group`): pending | confirmed → failed, and
/// every successful payment of the order is refunded.
///
/// A peer that cannot be reached makes the handler throw, so the message is retried in place until the refund or
/// withdrawal is done; a peer that refuses is logged for an operator (retrying would not change its answer).
struct OrderEvents: Sendable {
    struct Groups: Sendable {
        var payment: String
        var inventory: String

        static var original: Groups {
            Groups(payment: ConsumerGroups.orderPayments.id, inventory: ConsumerGroups.orderInventory.id)
        }
    }

    let repository: OrderRepository
    let peers: Peers

    func makeConsumers(runtime: ServiceRuntime, groups: Groups) throws -> [KafkaBusConsumer] {
        [
            try runtime.makeConsumer(groupID: groups.payment, handler: self.payments),
            try runtime.makeConsumer(groupID: groups.inventory, handler: self.inventory),
        ]
    }

    var payments: EventHandler<PaymentEvent> {
        EventHandler(Topics.paymentEvents) { event, context in try await self.handlePayment(event, context.logger) }
    }

    var inventory: EventHandler<InventoryEvent> {
        EventHandler(Topics.inventoryEvents) { event, context in try await self.handleInventory(event, context.logger) }
    }

    private func handlePayment(_ event: PaymentEvent, _ logger: Logger) async throws {
        guard let orderID = event.orderId, let id = MongoObjectID(orderID), let outcome = event.outcome else {
            throw UnprocessableEvent("a payment event without a valid orderId and status")
        }
        var logger = logger
        logger[metadataKey: "order.id"] = "\(orderID)"
        logger[metadataKey: "event.id"] = "\(event.eventId ?? "-")"
        switch outcome {
        case .succeeded:
            // Usually `POST /order` confirmed the order on the charge's answer already: then this is one read.
            var current = try await self.repository.find(orderID)
            if current?.status == .pending {
                if try await self.repository.transition(id, from: [.pending], to: .confirmed) != nil {
                    logger.info("order confirmed")  // its order-confirmed event takes the lines out of the cart
                    return
                }
                current = try await self.repository.find(orderID)
            }
            guard let order = current else {
                logger.info("payment event for an unknown order: skipped")
                return
            }
            if order.status == .failed || order.status == .cancelled {
                // Charged for an order that is no longer going ahead: the goods stay on sale, the money goes back.
                try await Self.unlessRefused(logger, "payment success for a \(order.status.rawValue) order") {
                    try await self.peers.withdrawReservation(order.reservationId)
                    let count = try await self.peers.refundAll(orderID: orderID)
                    logger.warning(
                        "payment success for a \(order.status.rawValue) order: refunded",
                        metadata: ["refunds": "\(count)"]
                    )
                }
            } else {
                // Every event handled leaves a line (operators and scripts/test-replicas follow the partitions by it).
                logger.info("payment success: the order is \(order.status.rawValue) already")
            }
        case .failed:
            if try await self.repository.transition(id, from: [.pending], to: .failed, reason: "payment failed") != nil
            {
                logger.info("order failed: payment failed")
            }
        case .refunded:
            guard event.fullyRefunded != false else {
                logger.info("partial refund: the order is unchanged")
                return
            }
            if try await self.repository.transition(id, from: [.confirmed, .cancelled], to: .refunded) != nil {
                logger.info("order refunded")
            }
            // A refunded order is void: its units go back on sale (idempotent; this also completes a cancel that
            // refunded but could not reach inventory).
            if let order = try await self.repository.find(orderID), order.status == .refunded {
                try await Self.unlessRefused(logger, "refunded order") {
                    try await self.peers.withdrawReservation(order.reservationId)
                }
            }
        }
    }

    private func handleInventory(_ event: InventoryEvent, _ logger: Logger) async throws {
        guard event.kind == .reservationLost else { return }
        guard let orderID = event.orderId, let id = MongoObjectID(orderID) else {
            throw UnprocessableEvent("a reservation-lost event without a valid orderId")
        }
        var logger = logger
        logger[metadataKey: "order.id"] = "\(orderID)"
        let reason = "stock lost after payment: \(event.reason ?? "reservation lost")"
        if try await self.repository.transition(id, from: [.pending, .confirmed], to: .failed, reason: reason) != nil {
            logger.error("order failed: its reservation was lost")
        }
        guard let order = try await self.repository.find(orderID), order.status == .failed else { return }
        try await Self.unlessRefused(logger, "reservation lost") {
            let count = try await self.peers.refundAll(orderID: orderID)
            logger.warning("reservation lost: payment refunded", metadata: ["refunds": "\(count)"])
        }
    }

    /// Runs `body`; rethrows when a peer was unreachable (the consumer retries the message in place), logs a
    /// refusal for an operator.
    private static func unlessRefused(
        _ logger: Logger,
        _ what: String,
        _ body: () async throws -> Void
    ) async throws {
        do {
            try await body()
        } catch let error as ServiceClientError where error.code == .unavailable {
            logger.warning("\(what): a peer is unavailable; retrying", metadata: ["error": "\(error)"])
            throw error
        } catch {
            logger.error("\(what): refused; needs an operator", metadata: ["error": "\(error)"])
        }
    }
}
