import Foundation
import Hummingbird
import MongoStore
import ServiceAuth
import ServiceKit

/// The notification routes (the original had none). Both are protected: the caller must be the notifications' owner,
/// an admin or a service.
///
/// | method | path | success |
/// |---|---|---|
/// | GET | `/notifications?userId=<24hex>` | 200 `[notification]`, newest first; `[]` when none |
/// | GET | `/notifications/{id}` | 200 `notification` |
///
/// A notification is `{_id, eventId, userId, orderId, type, message, email?, status, attempts, lastError?, channel?,
/// createdAt, sentAt?, nextAttemptAt?}` with times as RFC 3339 strings (milliseconds, UTC). Errors use the platform
/// envelope: 400 `invalid_id` (malformed userId or notification id), 401, 403, 404 `notification_not_found`.
struct NotificationController: Sendable {
    let repository: NotificationRepository

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.get("/notifications", use: self.list)
        group.get("/notifications/:id", use: self.show)
    }

    @Sendable
    func list(request: Request, context: ServiceRequestContext) async throws -> NotificationList {
        guard let userID = request.uri.queryParameters.get("userId"), MongoObjectID(userID) != nil else {
            throw APIError.badRequest(
                "the query parameter userId (24 hexadecimal digits) is required",
                code: "invalid_id"
            )
        }
        _ = try context.requireAccess(toUser: userID.lowercased())
        let records = try await self.repository.list(userID: userID.lowercased())
        return NotificationList(items: records.map(NotificationResponse.init))
    }

    @Sendable
    func show(request: Request, context: ServiceRequestContext) async throws -> NotificationResponse {
        // Hummingbird hands path parameters over still percent-encoded; the key holds a ':' that clients encode.
        let raw = try context.parameters.require("id")
        let id = raw.removingPercentEncoding ?? raw
        // The key ends in its owner's id, so access is decided before the lookup (no existence leak to others).
        guard let owner = NotificationRecord.userID(inKey: id) else {
            throw APIError.badRequest("malformed notification id", code: "invalid_id")
        }
        _ = try context.requireAccess(toUser: owner)
        guard let record = try await self.repository.find(id: id), record.userId == owner else {
            throw APIError(.notFound, code: "notification_not_found", message: "notification not found")
        }
        return NotificationResponse(record)
    }
}

/// A notification as the routes show it.
struct NotificationResponse: ResponseEncodable, Sendable {
    var _id: String
    var eventId: String
    var userId: String
    var orderId: String
    var type: String
    var message: String
    var email: String?
    var status: String
    var attempts: Int
    var lastError: String?
    var channel: String?
    var createdAt: String
    var sentAt: String?
    var nextAttemptAt: String?

    init(_ record: NotificationRecord) {
        self._id = record.id
        self.eventId = record.eventId
        self.userId = record.userId
        self.orderId = record.orderId
        self.type = record.type
        self.message = record.message
        self.email = record.email
        self.status = record.status.rawValue
        self.attempts = record.attempts
        self.lastError = record.lastError
        self.channel = record.channel
        self.createdAt = Self.time(record.createdAt)
        self.sentAt = record.sentAt.map(Self.time)
        self.nextAttemptAt = record.nextAttemptAt.map(Self.time)
    }

    private static func time(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}

/// A bare JSON array of notifications.
struct NotificationList: ResponseEncodable, Sendable {
    var items: [NotificationResponse]

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.items)
    }
}
