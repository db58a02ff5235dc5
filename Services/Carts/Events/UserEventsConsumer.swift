import Foundation
import KafkaBus
import Logging
import MongoStore
import ServiceKit

/// Keeps carts in step with users: `user-created` gives the user an empty cart, `user-deleted` deletes it and leaves
/// a tombstone so that a late or replayed `user-created` never brings it back (contract §9.32, §9.34).
///
/// Both handlers are idempotent, so at-least-once delivery, redelivery after a crash and a replay from the earliest
/// offset all end in the same state. A payload that cannot be understood is logged and skipped (committed); only a
/// transient store failure is thrown, so the consumer retries that message in place.
struct UserEventsConsumer<Repository: CartRepository>: Sendable {
    /// The topics, as in the original.
    static var createdTopic: String { "user-created" }
    static var deletedTopic: String { "user-deleted" }

    /// The consumer group ids.
    struct Groups: Sendable {
        var userCreated: String
        var userDeleted: String

        /// The original's group ids (contract §4, §11.7), so committed offsets can be taken over.
        static var original: Groups {
            Groups(userCreated: "cart-service-user-created-group", userDeleted: "cart-service-user-deleted-group")
        }
    }

    let repository: Repository

    /// One consumer per topic and group, as the original had.
    /// - Throws: `KafkaBusError` `.configuration`.
    func makeConsumers(runtime: ServiceRuntime, groups: Groups) throws -> [KafkaBusConsumer] {
        [
            try runtime.makeConsumer(groupID: groups.userCreated, topics: [Self.createdTopic]) { message, logger in
                try await self.handleCreated(message, logger: logger)
            },
            try runtime.makeConsumer(groupID: groups.userDeleted, topics: [Self.deletedTopic]) { message, logger in
                try await self.handleDeleted(message, logger: logger)
            },
        ]
    }

    /// `user-created`: creates an empty cart unless the user already has one or was deleted.
    /// - Throws: only transient store errors (the message is then retried).
    func handleCreated(_ message: KafkaBusMessage, logger: Logger) async throws {
        guard let userID = Self.userID(of: message, logger: logger) else { return }
        try await Self.transient(logger) {
            if try await self.repository.createEmptyCart(userID: userID) {
                logger.info("cart ready for new user", metadata: ["cart.user": "\(userID)"])
            } else {
                logger.info("user-created for a deleted user: no cart created", metadata: ["cart.user": "\(userID)"])
            }
        }
    }

    /// `user-deleted`: records the deletion and deletes the user's cart.
    /// - Throws: only transient store errors (the message is then retried).
    func handleDeleted(_ message: KafkaBusMessage, logger: Logger) async throws {
        guard let userID = Self.userID(of: message, logger: logger) else { return }
        try await Self.transient(logger) {
            try await self.repository.deleteUser(userID: userID)
            logger.info("cart deleted with its user", metadata: ["cart.user": "\(userID)"])
        }
    }

    /// The event's user id, lower-cased; `nil` (logged) when the payload is not a user event with a 24-hex id.
    private static func userID(of message: KafkaBusMessage, logger: Logger) -> String? {
        guard let event = try? JSONDecoder().decode(UserEvent.self, from: Data(message.value)) else {
            logger.warning("skipping an undecodable user event", metadata: ["event.bytes": "\(message.value.count)"])
            return nil
        }
        guard MongoObjectID(event.userId) != nil else {
            logger.warning(
                "skipping a user event without a valid userId",
                metadata: ["event.id": "\(event.eventId ?? "-")"]
            )
            return nil
        }
        return event.userId.lowercased()
    }

    /// Runs `body`; rethrows only errors worth retrying, logs and swallows the rest (retrying them cannot help).
    private static func transient(_ logger: Logger, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as MongoStoreError where !error.isRetriable && error.code != .shutdown {
            logger.error("skipping a user event the store refused", metadata: ["error": "\(error)"])
        }
    }
}
