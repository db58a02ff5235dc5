import MongoStore
import ServiceKit
import StorefrontContracts

extension PaymentEvent {
    /// The event announcing `outcome` of `payment`, for `amountCents` (the charge, or the amount this refund gave
    /// back); a failure carries the payment's `failureReason`.
    init(_ outcome: Outcome, payment: Payment, amountCents: Int64) {
        self.init(
            outcome,
            orderId: payment.orderId,
            userId: payment.userId,
            reservationId: payment.reservationId,
            amount: Payment.dollars(amountCents),
            method: payment.method,
            paymentId: payment.id.hex,
            reason: outcome == .failed ? payment.failureReason : nil
        )
    }
}
