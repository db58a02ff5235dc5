import Foundation
import MongoStore
import ServiceAuth
import ServiceKit
import StorefrontContracts

/// The fields an update may change, already validated (and the password already hashed).
struct UserChanges: Sendable, Equatable {
    var name: String?
    var email: String?
    var phone: Int64?
    var passwordHash: String?
    var role: Role?

    var isEmpty: Bool { self == UserChanges() }
}

/// Where accounts live: `users` in the service's database. Writes that other services must hear about also write
/// their event to the transactional ``Outbox`` in the same transaction, and notify its relay after the commit.
struct UserRepository: Sendable {
    static let collectionName = "users"

    let store: MongoStore
    let relay: OutboxRelay

    private var users: MongoCollection<User> { self.store.collection(Self.collectionName, as: User.self) }

    /// Creates the collections and indexes (unique `email`, the outbox). Call at startup.
    func prepare() async throws {
        try await self.users.createIndexes([MongoIndex(keys: ["email": 1], unique: true)])
        try await Outbox.prepare(self.store)
    }

    /// Inserts `user` and its `user-created` event atomically.
    /// - Throws: `MongoStoreError.Code.duplicateKey` when the email is taken.
    func create(_ user: User) async throws {
        let origin = EventOrigin.current
        let event = UserCreatedEvent(email: user.email, userId: user.id.hex)
        try await self.store.withTransaction { transaction in
            try transaction.collection(Self.collectionName, as: User.self).insert(user)
            try Outbox.append(event, to: Topics.userCreated, origin: origin, in: transaction)
        }
        self.relay.notify()
    }

    func find(id: MongoObjectID) async throws -> User? {
        try await self.users.findOne(["_id": .objectID(id)])
    }

    func find(email: String) async throws -> User? {
        try await self.users.findOne(["email": .string(email)])
    }

    func list() async throws -> [User] {
        try await self.users.find([:], sort: ["created_at": 1])
    }

    /// Applies `changes` (refreshing `updated_at`) and returns the user after it; `nil` when no user has that id (or,
    /// with `expectedPasswordHash`, when the password changed meanwhile).
    /// - Throws: `MongoStoreError.Code.duplicateKey` when the new email is taken.
    func update(id: MongoObjectID, _ changes: UserChanges, expectedPasswordHash: String?) async throws -> User? {
        var set = MongoDocument()
        if let name = changes.name { set.append("name", .string(name)) }
        if let email = changes.email { set.append("email", .string(email)) }
        if let phone = changes.phone { set.append("phone", .int(phone)) }
        if let hash = changes.passwordHash { set.append("password", .string(hash)) }
        if let role = changes.role { set.append("role", .string(role.rawValue)) }
        var filter: MongoDocument = ["_id": .objectID(id)]
        if let expectedPasswordHash { filter.append("password", .string(expectedPasswordHash)) }
        // updated_at through $currentDate: a $set of a date is stored as a string on the dev store (gap 3).
        var update: MongoDocument = ["$currentDate": ["updated_at": true]]
        if !set.isEmpty { update.append("$set", .document(set)) }
        // updateOne, then read: findAndModify does not report a unique-index violation on the dev store (it answers
        // "no document"), while update does, on both stores.
        guard try await self.users.updateOne(filter, update).matchedCount == 1 else { return nil }
        return try await self.find(id: id)
    }

    /// Deletes the user and writes its `user-deleted` event atomically; `false` (and no event) when none existed.
    func delete(id: MongoObjectID) async throws -> Bool {
        let origin = EventOrigin.current
        let event = UserDeletedEvent(userId: id.hex)
        let deleted = try await self.store.withTransaction { transaction in
            guard try transaction.collection(Self.collectionName, as: User.self).deleteOne(["_id": .objectID(id)]) == 1
            else { return false }
            try Outbox.append(event, to: Topics.userDeleted, origin: origin, in: transaction)
            return true
        }
        if deleted { self.relay.notify() }
        return deleted
    }
}
