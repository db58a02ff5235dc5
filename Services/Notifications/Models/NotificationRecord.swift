import Foundation
import MongoStore

/// Where a notification is in its delivery.
enum NotificationStatus: String, Codable, Sendable, CaseIterable {
    /// Stored, not tried yet.
    case pending = "PENDING"
    /// Claimed by a delivery attempt (until `nextAttemptAt`, after which another attempt may take it over).
    case sending = "SENDING"
    /// Handed to the sender successfully.
    case sent = "SENT"
    /// The last attempt failed; retried at `nextAttemptAt` when present, final when absent.
    case failed = "FAILED"
    /// Nobody to send it to (the user does not exist and the event had no e-mail address). Final.
    case skipped = "SKIPPED"
}

/// A stored notification (`NotificationService.notifications`), one per event and user.
///
/// `_id` is `"<eventId>:<userId>"`: the unique key that makes consumption idempotent (a redelivered event inserts
/// nothing). Times are Int64 epoch milliseconds (the dev store cannot `$set` dates). States are strings.
struct NotificationRecord: Codable, Sendable, Equatable {
    var id: String
    var eventId: String
    var userId: String
    /// The order id for payment and order events, `""` for user events (as the original stored it).
    var orderId: String
    /// The event type: `user-created`, `user-deleted`, `payment.succeeded`, `payment.failed`, `payment.refunded`,
    /// `order-shipped`, `order-delivered`.
    var type: String
    var message: String
    /// The recipient, once known (from the event or the user service).
    var email: String?
    var status: NotificationStatus
    /// Delivery attempts started so far.
    var attempts: Int
    var lastError: String?
    /// The sender that delivered it: `log` or `smtp`.
    var channel: String?
    var createdAt: Int64
    var sentAt: Int64?
    /// When the next attempt may start; absent in final states (SENT, SKIPPED, final FAILED).
    var nextAttemptAt: Int64?

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case eventId, userId, orderId, type, message, email, status, attempts, lastError, channel, createdAt, sentAt,
            nextAttemptAt
    }

    /// The unique key of the notification of `eventID` for `userID`.
    static func key(eventID: String, userID: String) -> String { "\(eventID):\(userID)" }

    /// The user id inside a key (`…:<24 hex>`), lower-cased; `nil` when `key` is not a well-formed key.
    static func userID(inKey key: String) -> String? {
        guard key.utf8.count <= 400, let colon = key.lastIndex(of: ":"), colon != key.startIndex else { return nil }
        let user = key[key.index(after: colon)...]
        return MongoObjectID(String(user))?.hex
    }

}
