import KafkaBus
import Logging
import MongoStore
import ServiceKit
import StorefrontContracts

/// Keeps carts in step with users: `user-created` gives the user an empty cart, `user-deleted` deletes it and leaves
/// a tombstone so that a late or replayed `user-created` never brings it back (contract §9.32, §9.34).
///
/// Both handlers are idempotent, so at-least-once delivery, redelivery after a crash and a replay from the earliest
/// offset all end in the same state. An event without a 24-hex `userId` is dead-lettered; a transient store failure is
/// retried in place by the consumer.
struct UserEventsConsumer: Sendable {
    /// The consumer group ids.
    struct Groups: Sendable {
        var userCreated: String
        var userDeleted: String

        /// The original's group ids (contract §4, §11.7), so committed offsets can be taken over.
        static var original: Groups {
            Groups(userCreated: ConsumerGroups.cartUserCreated.id, userDeleted: ConsumerGroups.cartUserDeleted.id)
        }
    }

    let repository: CartRepository

    /// One consumer per topic and group, as the original had.
    /// - Throws: `KafkaBusError` `.configuration`.
    func makeConsumers(runtime: ServiceRuntime, groups: Groups) throws -> [KafkaBusConsumer] {
        [
            try runtime.makeConsumer(groupID: groups.userCreated, handler: self.created),
            try runtime.makeConsumer(groupID: groups.userDeleted, handler: self.deleted),
        ]
    }

    var created: EventHandler<UserCreatedEvent> {
        EventHandler(Topics.userCreated) { event, context in
            try await self.handleCreated(userID: event.userId, context: context)
        }
    }

    var deleted: EventHandler<UserDeletedEvent> {
        EventHandler(Topics.userDeleted) { event, context in
            try await self.handleDeleted(userID: event.userId, context: context)
        }
    }

    /// `user-created`: creates an empty cart unless the user already has one or was deleted.
    func handleCreated(userID: String, context: EventContext) async throws {
        let userID = try Self.validated(userID)
        if try await self.repository.createEmptyCart(userID: userID) {
            context.logger.info("cart ready for new user", metadata: ["cart.user": "\(userID)"])
        } else {
            context.logger.info(
                "user-created for a deleted user: no cart created",
                metadata: ["cart.user": "\(userID)"]
            )
        }
    }

    /// `user-deleted`: records the deletion and deletes the user's cart.
    func handleDeleted(userID: String, context: EventContext) async throws {
        let userID = try Self.validated(userID)
        try await self.repository.deleteUser(userID: userID)
        context.logger.info("cart deleted with its user", metadata: ["cart.user": "\(userID)"])
    }

    /// The user id, lower-cased.
    /// - Throws: ``UnprocessableEvent`` when it is not a 24-hex id.
    private static func validated(_ userID: String) throws -> String {
        guard MongoObjectID(userID) != nil else { throw UnprocessableEvent("a user event without a valid userId") }
        return userID.lowercased()
    }
}
