import Foundation

/// The topics the user service publishes to.
enum UserTopic {
    static let created = "user-created"
    static let deleted = "user-deleted"
}

/// `user-created`: an account exists. The original's `{email, userId}` plus an event id (consumers deduplicate on
/// it), its type and time. Key: `userId`.
struct UserCreatedEvent: Codable, Sendable, Equatable {
    var email: String
    /// The account's 24-hex id.
    var userId: String
    var eventId: String
    var type: String
    var occurredAt: Date

    init(email: String, userId: String, eventId: String = UUID().uuidString.lowercased(), occurredAt: Date = Date()) {
        self.email = email
        self.userId = userId
        self.eventId = eventId
        self.type = UserTopic.created
        self.occurredAt = occurredAt
    }
}

/// `user-deleted`: an account was removed (only sent when a document was actually deleted). The original's
/// `{userId}` plus an event id, its type and time. Key: `userId`.
struct UserDeletedEvent: Codable, Sendable, Equatable {
    /// The account's 24-hex id.
    var userId: String
    var eventId: String
    var type: String
    var occurredAt: Date

    init(userId: String, eventId: String = UUID().uuidString.lowercased(), occurredAt: Date = Date()) {
        self.userId = userId
        self.eventId = eventId
        self.type = UserTopic.deleted
        self.occurredAt = occurredAt
    }
}
