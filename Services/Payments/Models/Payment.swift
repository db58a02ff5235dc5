import Foundation
import MongoStore

/// A stored payment (`PaymentService.payments`): the original's fields (ids as strings, `currency`, `method`,
/// `gatewayTxnId`, `failureReason`, dates), a status from one vocabulary, exact amounts in cents, the refunded total,
/// and `chargeKey`, the field that makes "one successful charge per order" a unique-index rule.
struct Payment: Codable, Sendable, Equatable {
    enum Status: String, Codable, Sendable, CaseIterable {
        /// In flight: the order's charge is claimed and the processor is being asked. Internal; never answered.
        case processing
        case success
        case failed
        case refunded
        case partiallyRefunded = "partially_refunded"

        /// The statuses clients see.
        static let visible: [Status] = [.success, .failed, .refunded, .partiallyRefunded]
        /// The statuses a refund may start from.
        static let refundable: [Status] = [.success, .partiallyRefunded]
    }

    var id: MongoObjectID
    var orderId: String
    var userId: String
    var reservationId: String
    /// The charged amount in dollars (as clients send it); `amountCents` is the exact value.
    var amount: Double
    var amountCents: Int64
    var currency: String
    var method: String
    var status: Status
    var refundedCents: Int64
    var refundedAmount: Double
    var gatewayTxnId: String?
    var failureReason: String?
    /// Unique (index `chargeKey_1`): the order id while the payment is in flight or charged (success, refunded,
    /// partially refunded), so an order has at most one; `failed:<id>` once it failed, so failures never block a retry.
    var chargeKey: String
    /// The refunds made under an `Idempotency-Key`: key → cents refunded by it (absent until the first one).
    var refundKeys: [String: Int64]?
    var createdAt: Date
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case orderId, userId, reservationId, amount, amountCents, currency, method, status, refundedCents
        case refundedAmount, gatewayTxnId, failureReason, chargeKey, refundKeys, createdAt, updatedAt
    }

    static func dollars(_ cents: Int64) -> Double { Double(cents) / 100 }

    /// `amount` in whole cents when it is positive, finite and has at most two decimals; `nil` otherwise.
    static func cents(_ amount: Double) -> Int64? {
        guard amount.isFinite, amount > 0, amount < 1e13 else { return nil }
        let scaled = amount * 100
        let rounded = scaled.rounded()
        guard abs(scaled - rounded) < 1e-6 * max(1, abs(scaled)) else { return nil }
        return Int64(rounded)
    }
}
