package import Foundation
import ServiceKit

/// `payment-events`: the original's `{orderId, userId, reservationId, amount, method, status, timestamp}` with
/// `status` exactly `success`, `failed` or `refunded`, plus an event id (consumers deduplicate on it), its `type`
/// (`payment.succeeded`, `payment.failed`, `payment.refunded`) and the payment id. Key: `orderId`. For a refund,
/// `amount` is the amount refunded by this refund, and `fullyRefunded` says whether nothing is left to refund (a
/// partial refund does not undo the order).
///
/// Every key is optional on reading (absent or of another type is `nil`): the original producer sends fewer keys
/// and `Failure` for a failure; each consumer checks what it needs. ``outcome`` reads the status the same way for all.
package struct PaymentEvent: StorefrontEvent, Equatable {
    package static let schemaVersion = 1

    /// What happened to the payment.
    package enum Outcome: String, Sendable, CaseIterable {
        case succeeded = "payment.succeeded"
        case failed = "payment.failed"
        case refunded = "payment.refunded"

        /// The original's `status` word for it.
        package var status: String {
            switch self {
            case .succeeded: "success"
            case .failed: "failed"
            case .refunded: "refunded"
            }
        }
    }

    package var orderId: String?
    package var userId: String?
    package var reservationId: String?
    /// Dollars.
    package var amount: Double?
    package var method: String?
    /// `success`, `failed` or `refunded` from us; the original also sent `failure`.
    package var status: String?
    /// RFC 3339, UTC, milliseconds.
    package var timestamp: Date?
    package var eventId: String?
    /// The ``Outcome`` raw value.
    package var type: String?
    package var paymentId: String?
    /// Why a payment failed (`failed` only).
    package var reason: String?
    /// Whether the whole charge has now been refunded (`refunded` only; absent from older producers, whose refunds
    /// were always full).
    package var fullyRefunded: Bool?

    package var key: String { self.orderId ?? "" }

    /// The outcome: `status` decides (case-insensitive; `failure` and `succeeded` accepted), `type` only when there
    /// is no status; `nil` for anything else.
    package var outcome: Outcome? {
        switch self.status?.lowercased() {
        case "success", "succeeded": .succeeded
        case "failed", "failure": .failed
        case "refunded": .refunded
        case nil: self.type.flatMap(Outcome.init(rawValue:))
        default: nil
        }
    }

    /// The event our payment service publishes.
    package init(
        _ outcome: Outcome,
        orderId: String,
        userId: String,
        reservationId: String,
        amount: Double,
        method: String,
        paymentId: String,
        reason: String? = nil,
        fullyRefunded: Bool? = nil,
        eventId: String = UUID().uuidString.lowercased(),
        timestamp: Date = Date()
    ) {
        self.orderId = orderId
        self.userId = userId
        self.reservationId = reservationId
        self.amount = amount
        self.method = method
        self.status = outcome.status
        self.timestamp = timestamp
        self.eventId = eventId
        self.type = outcome.rawValue
        self.paymentId = paymentId
        self.reason = reason
        self.fullyRefunded = fullyRefunded
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.orderId = container.lenient(String.self, forKey: .orderId)
        self.userId = container.lenient(String.self, forKey: .userId)
        self.reservationId = container.lenient(String.self, forKey: .reservationId)
        self.amount = container.lenient(Double.self, forKey: .amount)
        self.method = container.lenient(String.self, forKey: .method)
        self.status = container.lenient(String.self, forKey: .status)
        self.timestamp = container.lenient(Date.self, forKey: .timestamp)
        self.eventId = container.lenient(String.self, forKey: .eventId)
        self.type = container.lenient(String.self, forKey: .type)
        self.paymentId = container.lenient(String.self, forKey: .paymentId)
        self.reason = container.lenient(String.self, forKey: .reason)
        self.fullyRefunded = container.lenient(Bool.self, forKey: .fullyRefunded)
    }
}
