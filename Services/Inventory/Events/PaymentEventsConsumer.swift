import KafkaBus
import Logging
import ServiceKit
import StorefrontContracts

/// Applies payment outcomes to reservations: `success` commits (reserved → sold; a late success for an expired or
/// cancelled reservation sells again or reports `reservation-lost`, unless the order withdrew it), `failed`/`failure`
/// cancels (reserved → available), `refunded` changes no stock. Idempotent under redelivery and replay: every
/// transition is guarded by the reservation's state and every stock step by its stage. Malformed events are
/// dead-lettered; transient store failures are retried in place by the consumer.
struct PaymentEventsConsumer: Sendable {
    static let originalGroup = ConsumerGroups.inventoryPayments.id

    let reservations: Reservations
    /// Wakes the outbox relay after a `reservation-lost` record was written.
    let notifyOutbox: @Sendable () -> Void

    func makeConsumer(runtime: ServiceRuntime, groupID: String = Self.originalGroup) throws -> KafkaBusConsumer {
        try runtime.makeConsumer(groupID: groupID, handler: self.handler)
    }

    var handler: EventHandler<PaymentEvent> {
        EventHandler(Topics.paymentEvents) { event, context in try await self.apply(event, context: context) }
    }

    private func apply(_ event: PaymentEvent, context: EventContext) async throws {
        var logger = context.logger
        logger[metadataKey: "order.id"] = "\(event.orderId ?? "-")"
        logger[metadataKey: "event.id"] = "\(event.eventId ?? "-")"
        let reservation: Reservation?
        if let id = event.reservationId, !id.isEmpty {
            reservation = try await self.reservations.find(id: id)
        } else if let orderID = event.orderId, !orderID.isEmpty {
            reservation = try await self.reservations.find(orderID: orderID)
        } else {
            throw UnprocessableEvent("a payment event without reservationId or orderId")
        }
        guard let reservation else {
            logger.warning(
                "payment event for an unknown reservation: skipped",
                metadata: ["reservation.id": "\(event.reservationId ?? "-")"]
            )
            return
        }
        logger[metadataKey: "reservation.id"] = "\(reservation.id)"
        switch event.outcome {
        case .succeeded:
            let outcome = try await self.reservations.commit(id: reservation.id)
            switch outcome {
            case .notReady:
                // Still being reserved: retry shortly (the consumer backs off and redelivers in place).
                throw NotReady()
            case .lost(let reason):
                logger.error("paid order lost its stock: reservation-lost emitted", metadata: ["reason": "\(reason)"])
                self.notifyOutbox()
            case .withdrawn:
                logger.warning("payment success for a withdrawn order: nothing sold (the order service refunds it)")
            default:
                logger.info("payment success applied", metadata: ["outcome": "\(outcome)"])
            }
        case .failed:
            let outcome = try await self.reservations.cancel(id: reservation.id)
            if outcome == .notReady { throw NotReady() }
            if case .alreadyFinal(.committed) = outcome {
                logger.warning("payment failure for a committed reservation: refused, stock unchanged")
            } else {
                logger.info("payment failure applied", metadata: ["outcome": "\(outcome)"])
            }
        case .refunded:
            logger.info("payment refunded: no stock change")
        case nil:
            throw UnprocessableEvent("a payment event with an unknown status '\(event.status ?? "-")'")
        }
    }

    struct NotReady: Error, CustomStringConvertible {
        var description: String { "the reservation is still being made" }
    }
}
