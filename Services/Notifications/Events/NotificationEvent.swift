import Foundation
import MongoStore
import ServiceKit
import StorefrontContracts

/// What one consumed event (`user-created`, `user-deleted`, `payment-events` or `order-events`, as the contracts read
/// them) asks this service to tell a user.
struct NotificationEvent: Sendable, Equatable {
    enum Kind: String, Sendable {
        case userCreated = "user-created"
        case userDeleted = "user-deleted"
        case paymentSucceeded = "payment.succeeded"
        case paymentFailed = "payment.failed"
        case paymentRefunded = "payment.refunded"
        case orderShipped = "order-shipped"
        case orderDelivered = "order-delivered"
    }

    var kind: Kind
    /// The producer's event id; `nil` for older producers (the consumer derives one from the message's position).
    var eventId: String?
    /// Lower-cased 24-hex user id.
    var userId: String
    /// `""` for user events.
    var orderId: String
    var email: String?
    var amount: Double?
    /// Who carries a shipped order, and its tracking number there (`order-shipped` only).
    var carrier: String?
    var trackingNumber: String?

    /// `user-created`: a welcome.
    /// - Throws: `UnprocessableEvent` when the user id is not 24-hex.
    init(_ event: UserCreatedEvent) throws {
        try self.init(.userCreated, eventId: event.eventId, userId: event.userId, orderId: "", email: event.email)
    }

    /// `user-deleted`: a goodbye.
    /// - Throws: `UnprocessableEvent` when the user id is not 24-hex.
    init(_ event: UserDeletedEvent) throws {
        try self.init(.userDeleted, eventId: event.eventId, userId: event.userId, orderId: "", email: nil)
    }

    /// `payment-events`: received, declined or refunded (the outcome as ``PaymentEvent/outcome`` reads it).
    /// - Throws: `UnprocessableEvent` naming what is wrong (no valid userId, no orderId, unknown payment status).
    init(_ event: PaymentEvent) throws {
        let kind: Kind
        switch event.outcome {
        case .succeeded: kind = .paymentSucceeded
        case .failed: kind = .paymentFailed
        case .refunded: kind = .paymentRefunded
        case nil:
            throw UnprocessableEvent(event.status.map { "unknown payment status '\($0)'" } ?? "no payment status")
        }
        guard let order = event.orderId, !order.isEmpty, order.utf8.count <= 200 else {
            throw UnprocessableEvent("no orderId")
        }
        try self.init(kind, eventId: event.eventId, userId: event.userId, orderId: order, email: nil)
        self.amount = event.amount.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
    }

    /// `order-events`: shipped (with the carrier and tracking number) or delivered. The order's other events tell the
    /// customer nothing here: payments are told from `payment-events`, and `order-rejected` was answered to the request
    /// as an error.
    /// - Returns: `nil` for an event of a kind that is not notified (`order-placed`, `-confirmed`, `-failed`,
    ///   `-cancelled`, `-refunded`, `-rejected`).
    /// - Throws: `UnprocessableEvent` naming what is wrong (no or an unknown type, no 24-hex orderId or userId).
    init?(_ event: OrderEvent) throws {
        let kind: Kind
        switch event.kind {
        case .shipped: kind = .orderShipped
        case .delivered: kind = .orderDelivered
        case .placed, .confirmed, .failed, .cancelled, .refunded, .rejected: return nil
        case nil:
            throw UnprocessableEvent(event.type.map { "unknown order event type '\($0)'" } ?? "no order event type")
        }
        guard let order = event.orderId.flatMap(MongoObjectID.init) else {
            throw UnprocessableEvent("no 24-hex orderId")
        }
        try self.init(kind, eventId: event.eventId, userId: event.userId, orderId: order.hex, email: nil)
        if kind == .orderShipped {
            self.carrier = Self.label(event.carrier)
            self.trackingNumber = Self.label(event.trackingNumber)
        }
    }

    private init(_ kind: Kind, eventId: String?, userId: String?, orderId: String, email: String?) throws {
        guard let userId, MongoObjectID(userId) != nil else { throw UnprocessableEvent("no 24-hex userId") }
        self.kind = kind
        self.eventId = eventId.flatMap { id in
            let trimmed = id.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty || trimmed.utf8.count > 200 ? nil : trimmed
        }
        self.userId = userId.lowercased()
        self.orderId = orderId
        self.email = email.flatMap { $0.contains("@") ? $0.trimmingCharacters(in: .whitespaces) : nil }
        self.amount = nil
        self.carrier = nil
        self.trackingNumber = nil
    }

    /// `value` trimmed, when it is fit to show in a message: not empty, one line, at most 200 bytes.
    private static func label(_ value: String?) -> String? {
        guard let trimmed = value?.trimmingCharacters(in: .whitespacesAndNewlines), !trimmed.isEmpty,
            trimmed.utf8.count <= 200, trimmed.rangeOfCharacter(from: .controlCharacters) == nil
        else { return nil }
        return trimmed
    }

    /// What the notification says.
    var message: String {
        let money = self.amount.map { "$" + String(format: "%.2f", $0) }
        switch self.kind {
        case .userCreated:
            if let email { return "Welcome to Storefront! Your account \(email) has been created." }
            return "Welcome to Storefront! Your account has been created."
        case .userDeleted:
            return "Your Storefront account has been deleted. We are sorry to see you go."
        case .paymentSucceeded:
            let what = money.map { "Your payment of \($0)" } ?? "Your payment"
            return "\(what) for order #\(self.orderId) was received. Your order is confirmed."
        case .paymentFailed:
            let what = money.map { "Your payment of \($0)" } ?? "Your payment"
            return "\(what) for order #\(self.orderId) was declined. Your order was not placed."
        case .paymentRefunded:
            let what = money.map { "Your refund of \($0)" } ?? "Your refund"
            return "\(what) for order #\(self.orderId) has been issued."
        case .orderShipped:
            let carrier = self.carrier.map { " with \($0)" } ?? ""
            let tracking = self.trackingNumber.map { " Tracking number: \($0)." } ?? ""
            return "Your order #\(self.orderId) has shipped\(carrier).\(tracking)"
        case .orderDelivered:
            return "Your order #\(self.orderId) was delivered."
        }
    }
}
