/// The user service's `user-created` / `user-deleted` payload as this service reads it:
/// `{"userId": "<24hex>", "email"?, "eventId"?, "type"?, "occurredAt"?}`. The original producer sends only `userId`
/// (and `email`); the optional keys are read leniently (a wrong type is ignored, not an error), so old and new
/// producers are both understood.
struct UserEvent: Decodable, Sendable {
    /// The user's id as sent (validated by the consumer).
    var userId: String
    var eventId: String?
    var type: String?

    enum CodingKeys: String, CodingKey {
        case userId
        case eventId
        case type
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.userId = try container.decode(String.self, forKey: .userId)
        self.eventId = try? container.decodeIfPresent(String.self, forKey: .eventId)
        self.type = try? container.decodeIfPresent(String.self, forKey: .type)
    }
}
