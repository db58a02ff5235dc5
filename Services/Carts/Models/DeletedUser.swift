/// A tombstone in `CartService.deletedUsers`: this user was deleted, so no cart may be created for it again, even when
/// its `user-created` event is processed after its `user-deleted` event or replayed later (contract §9.34).
struct DeletedUser: Codable, Sendable {
    /// The user's id (24 lower-case hex digits).
    var id: String
    /// Epoch milliseconds when the deletion was first processed.
    var deletedAt: Int64?

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case deletedAt
    }
}
