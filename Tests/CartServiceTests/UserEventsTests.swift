import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import MongoStore
import ServiceAuth
import ServiceKit
import StorefrontContracts
import TestSupport
import Testing

@testable import CartService

/// The `user-created` / `user-deleted` consumers: the handlers directly, then through the real broker.
@Suite(.timeLimit(.minutes(3)))
struct UserEventsTests {
    static func message(_ topic: String, _ json: String) -> KafkaBusMessage {
        KafkaBusMessage(topic: topic, value: Array(json.utf8))
    }

    @Test("user-created twice gives one empty cart; user-deleted removes it; both survive redelivery")
    func handlersAreIdempotent() async throws {
        let runtime = try await TestRuntimes.make(.cart)
        let repository = CartRepository(store: runtime.store)
        let consumer = UserEventsConsumer(repository: repository)
        let carts = CartTests.carts(runtime)
        let user = CartTests.newID()
        let created = Self.message(Topics.userCreated.name, #"{"email":"a@example.com","userId":"\#(user)"}"#)
        try await consumer.created.handle(created, logger: CartTests.logger)
        #expect(
            try await repository.add(userID: user, productID: CartTests.newID(), quantity: 1, limit: 5)
                == .added(quantity: 1)
        )
        try await consumer.created.handle(created, logger: CartTests.logger)  // redelivered: the cart keeps its item
        #expect(try await carts.count(["_id": .string(user)]) == 1)
        #expect(try await carts.findOne(["_id": .string(user)])?.items.count == 1)
        // The newer payload with eventId/type/occurredAt (any type) is read too.
        let other = CartTests.newID()
        try await consumer.created.handle(
            Self.message(
                Topics.userCreated.name,
                #"{"eventId":"e-1","type":"user-created","occurredAt":1735787045123,"email":"b@example.com","userId":"\#(other.uppercased())"}"#
            ),
            logger: CartTests.logger
        )
        let otherCart = try await carts.findOne(["_id": .string(other)])
        #expect(otherCart?.items == [:])
        #expect(otherCart?.createdAt != nil)
        let deleted = Self.message(Topics.userDeleted.name, #"{"userId":"\#(user)"}"#)
        try await consumer.deleted.handle(deleted, logger: CartTests.logger)
        try await consumer.deleted.handle(deleted, logger: CartTests.logger)
        #expect(try await carts.count(["_id": .string(user)]) == 0)
        // A replay of the whole topic (created again after deleted) does not bring the cart back.
        try await consumer.created.handle(created, logger: CartTests.logger)
        #expect(try await carts.count(["_id": .string(user)]) == 0)
        await runtime.store.close()
    }

    @Test("a delete processed before its create leaves no cart, and HTTP adds cannot revive a deleted user's cart")
    func deleteBeforeCreate() async throws {
        let runtime = try await TestRuntimes.make(.cart)
        let repository = CartRepository(store: runtime.store)
        let consumer = UserEventsConsumer(repository: repository)
        let user = CartTests.newID()
        try await consumer.deleted.handle(
            Self.message(Topics.userDeleted.name, #"{"userId":"\#(user)"}"#),
            logger: CartTests.logger
        )
        try await consumer.created.handle(
            Self.message(Topics.userCreated.name, #"{"email":"c@example.com","userId":"\#(user)"}"#),
            logger: CartTests.logger
        )
        #expect(try await repository.cart(userID: user) == nil)
        #expect(
            try await repository.add(userID: user, productID: CartTests.newID(), quantity: 1, limit: 5) == .userDeleted
        )
        #expect(
            try await repository.setQuantity(userID: user, productID: CartTests.newID(), quantity: 1) == .userDeleted
        )
        #expect(try await CartTests.carts(runtime).count() == 0)
        await runtime.store.close()
    }

    @Test("malformed events are poison (dead-lettered by the consumer at once) and write nothing")
    func malformedEvents() async throws {
        let runtime = try await TestRuntimes.make(.cart)
        let consumer = UserEventsConsumer(repository: CartRepository(store: runtime.store))
        for payload in [
            "", "not json", "[]", "{}", #"{"userId":42}"#, #"{"userId":"abc"}"#, #"{"userId":null}"#,
            #"{"userId":"zzzzzzzzzzzzzzzzzzzzzzzz"}"#,
        ] {
            await #expect(throws: KafkaBusPoisonMessage.self, "\(payload)") {
                try await consumer.created.handle(
                    Self.message(Topics.userCreated.name, payload),
                    logger: CartTests.logger
                )
            }
            await #expect(throws: KafkaBusPoisonMessage.self, "\(payload)") {
                try await consumer.deleted.handle(
                    Self.message(Topics.userDeleted.name, payload),
                    logger: CartTests.logger
                )
            }
        }
        #expect(try await CartTests.carts(runtime).count() == 0)
        #expect(try await runtime.store.collection("deletedUsers", as: DeletedUser.self).count() == 0)
        await runtime.store.close()
    }

    @Test(
        "through the real broker: a duplicated user-created gives one cart, user-deleted removes it, a late create does not revive it"
    )
    func throughTheBroker() async throws {
        let (runtime, app) = try await CartTests.makeApp(overrides: [:])
        // The runtime's one producer, which the application runs (its consumers dead-letter through it).
        let publisher = EventPublisher(producer: try runtime.makeProducer())
        let carts = CartTests.carts(runtime)
        let user = CartTests.newID()
        let admin = try await CartTests.auth(runtime, CartTests.newID(), role: .admin)
        try await app.test(.router) { client in
            struct Created: Encodable {
                var email: String
                var userId: String
            }
            struct Deleted: Encodable { var userId: String }
            let event = Created(email: "d@example.com", userId: user)
            try await publisher.publishForeign(event, to: Topics.userCreated, key: user)
            try await publisher.publishForeign(event, to: Topics.userCreated, key: user)
            #expect(try await eventually { try await carts.count(["_id": .string(user)]) == 1 })
            try await client.execute(uri: "/user/\(user)", method: .get, headers: admin) {
                #expect($0.status == .ok)
                #expect(String(buffer: $0.body) == "[]")
            }
            try await publisher.publishForeign(Deleted(userId: user), to: Topics.userDeleted, key: user)
            #expect(try await eventually { try await carts.count(["_id": .string(user)]) == 0 })
            // A late duplicate create, then a marker with the same key (same partition, so handled after it).
            let marker = CartTests.newID()
            try await publisher.publishForeign(event, to: Topics.userCreated, key: user)
            try await publisher.publishForeign(
                Created(email: "m@example.com", userId: marker),
                to: Topics.userCreated,
                key: user
            )
            #expect(try await eventually { try await carts.count(["_id": .string(marker)]) == 1 })
            #expect(try await carts.count(["_id": .string(user)]) == 0)
            try await client.execute(uri: "/user/\(user)", method: .get, headers: admin) {
                #expect($0.status == .notFound)
            }
        }
    }
}
