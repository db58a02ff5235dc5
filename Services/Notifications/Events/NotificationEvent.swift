import Foundation
import MongoStore

/// What one consumed event asks this service to tell a user, read leniently from any of the three payloads:
/// `user-created {email, userId, eventId?, type?, occurredAt?}`, `user-deleted {userId, eventId?, type?}` and
/// `payment-events {orderId, userId, reservationId, amount, method, status, timestamp, eventId?, type?}`.
/// Optional keys with a wrong type are ignored (old and new producers are both understood).
struct NotificationEvent: Sendable, Equatable {
    enum Kind: String, Sendable {
        case userCreated = "user-created"
        case userDeleted = "user-deleted"
        case paymentSucceeded = "payment.succeeded"
        case paymentFailed = "payment.failed"
        case paymentRefunded = "payment.refunded"
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

    /// Why a payload cannot become a notification (it is logged and skipped).
    struct Rejected: Error, CustomStringConvertible {
        var description: String
    }

    private struct Payload: Decodable {
        var userId: String?
        var email: String?
        var eventId: String?
        var type: String?
        var orderId: String?
        var amount: Double?
        var status: String?

        enum CodingKeys: String, CodingKey {
            case userId, email, eventId, type, orderId, amount, status
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.userId = try? container.decodeIfPresent(String.self, forKey: .userId)
            self.email = try? container.decodeIfPresent(String.self, forKey: .email)
            self.eventId = try? container.decodeIfPresent(String.self, forKey: .eventId)
            self.type = try? container.decodeIfPresent(String.self, forKey: .type)
            self.orderId = try? container.decodeIfPresent(String.self, forKey: .orderId)
            self.amount = try? container.decodeIfPresent(Double.self, forKey: .amount)
            self.status = try? container.decodeIfPresent(String.self, forKey: .status)
        }
    }

    /// Reads the payload of a message from `topic`.
    /// - Throws: ``Rejected`` naming what is wrong (not JSON, no valid userId, no orderId, unknown payment status).
    static func decode(topic: String, payload: [UInt8]) throws -> NotificationEvent {
        guard let body = try? JSONDecoder().decode(Payload.self, from: Data(payload)) else {
            throw Rejected(description: "not a JSON object")
        }
        guard let user = body.userId, MongoObjectID(user) != nil else {
            throw Rejected(description: "no 24-hex userId")
        }
        let eventID = body.eventId.flatMap { id in
            let trimmed = id.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty || trimmed.utf8.count > 200 ? nil : trimmed
        }
        let email = body.email.flatMap { $0.contains("@") ? $0.trimmingCharacters(in: .whitespaces) : nil }
        let kind: Kind
        switch topic {
        case "user-created": kind = .userCreated
        case "user-deleted": kind = .userDeleted
        case "payment-events":
            // The status decides; `type` only when the status is missing. `failure`/`Failure` are the original's.
            switch body.status?.lowercased() {
            case "success", "succeeded": kind = .paymentSucceeded
            case "failed", "failure": kind = .paymentFailed
            case "refunded": kind = .paymentRefunded
            case nil:
                guard let type = body.type, let known = Kind(rawValue: type), type.hasPrefix("payment.") else {
                    throw Rejected(description: "no payment status")
                }
                kind = known
            case let other?:
                throw Rejected(description: "unknown payment status '\(other)'")
            }
            guard let order = body.orderId, !order.isEmpty, order.utf8.count <= 200 else {
                throw Rejected(description: "no orderId")
            }
            return NotificationEvent(
                kind: kind,
                eventId: eventID,
                userId: user.lowercased(),
                orderId: order,
                email: email,
                amount: body.amount.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
            )
        default:
            throw Rejected(description: "unexpected topic \(topic)")
        }
        return NotificationEvent(
            kind: kind,
            eventId: eventID,
            userId: user.lowercased(),
            orderId: "",
            email: email,
            amount: nil
        )
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
        }
    }
}
