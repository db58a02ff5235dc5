import Foundation
import MongoStore

/// The topic the payment service publishes to.
enum PaymentTopic {
    static let events = "payment-events"
}

/// `payment-events`: the original's `{orderId, userId, reservationId, amount, method, status, timestamp}` with
/// `status` exactly `success`, `failed` or `refunded`, plus an event id (consumers deduplicate on it), its `type`
/// and the payment id. Key: `orderId`. For a refund, `amount` is the amount refunded by this refund, and
/// `fullyRefunded` says whether nothing is left to refund (a partial refund does not undo the order).
struct PaymentEvent: Codable, Sendable, Equatable {
    enum Kind: String, Codable, Sendable {
        case succeeded = "payment.succeeded"
        case failed = "payment.failed"
        case refunded = "payment.refunded"

        /// The original's `status` word for this kind.
        var status: String {
            switch self {
            case .succeeded: "success"
            case .failed: "failed"
            case .refunded: "refunded"
            }
        }
    }

    var orderId: String
    var userId: String
    var reservationId: String
    var amount: Double
    var method: String
    var status: String
    /// RFC 3339, UTC, milliseconds.
    var timestamp: Date
    var eventId: String
    var type: String
    var paymentId: String
    /// Why a payment failed (`failed` only).
    var reason: String?
    /// Whether the whole charge has now been refunded (`refunded` only).
    var fullyRefunded: Bool?

    init(_ kind: Kind, payment: Payment, amountCents: Int64, eventId: String = UUID().uuidString.lowercased()) {
        self.orderId = payment.orderId
        self.userId = payment.userId
        self.reservationId = payment.reservationId
        self.amount = Payment.dollars(amountCents)
        self.method = payment.method
        self.status = kind.status
        self.timestamp = Date()
        self.eventId = eventId
        self.type = kind.rawValue
        self.paymentId = payment.id.hex
        self.reason = kind == .failed ? payment.failureReason : nil
    }
}
