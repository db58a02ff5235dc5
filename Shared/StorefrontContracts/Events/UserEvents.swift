package import Foundation
import ServiceKit

/// `user-created`: an account exists. The original's `{email, userId}` plus an event id (consumers deduplicate on
/// it), its type and time. Key: `userId`.
///
/// Read leniently: only `userId` is required (consumers check that it is a 24-hex id); the other keys are `nil` when
/// absent or of another type, as from the original producer.
package struct UserCreatedEvent: StorefrontEvent, Equatable {
    package static let schemaVersion = 1
    package static let typeName = "user-created"

    /// The account's e-mail address.
    package var email: String?
    /// The account's 24-hex id.
    package var userId: String
    package var eventId: String?
    /// Always ``typeName`` from our producer.
    package var type: String?
    package var occurredAt: Date?

    package var key: String { self.userId }

    package init(
        email: String,
        userId: String,
        eventId: String = UUID().uuidString.lowercased(),
        occurredAt: Date = Date()
    ) {
        self.email = email
        self.userId = userId
        self.eventId = eventId
        self.type = Self.typeName
        self.occurredAt = occurredAt
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.userId = try container.decode(String.self, forKey: .userId)
        self.email = container.lenient(String.self, forKey: .email)
        self.eventId = container.lenient(String.self, forKey: .eventId)
        self.type = container.lenient(String.self, forKey: .type)
        self.occurredAt = container.lenient(Date.self, forKey: .occurredAt)
    }
}

/// `user-deleted`: an account was removed (only sent when a document was actually deleted). The original's
/// `{userId}` plus an event id, its type and time. Key: `userId`. Read leniently, as ``UserCreatedEvent``.
package struct UserDeletedEvent: StorefrontEvent, Equatable {
    package static let schemaVersion = 1
    package static let typeName = "user-deleted"

    /// The account's 24-hex id.
    package var userId: String
    package var eventId: String?
    /// Always ``typeName`` from our producer.
    package var type: String?
    package var occurredAt: Date?

    package var key: String { self.userId }

    package init(userId: String, eventId: String = UUID().uuidString.lowercased(), occurredAt: Date = Date()) {
        self.userId = userId
        self.eventId = eventId
        self.type = Self.typeName
        self.occurredAt = occurredAt
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.userId = try container.decode(String.self, forKey: .userId)
        self.eventId = container.lenient(String.self, forKey: .eventId)
        self.type = container.lenient(String.self, forKey: .type)
        self.occurredAt = container.lenient(Date.self, forKey: .occurredAt)
    }
}
