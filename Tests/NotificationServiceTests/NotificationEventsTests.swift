import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import MongoStore
import ServiceKit
import StorefrontContracts
import TestSupport
import Testing

@testable import NotificationService

/// The consumers' handler and the delivery loop, called directly, against the real store and the real user service;
/// and `order-events`, published to the test's topics on the real broker and consumed by the app's consumers.
@Suite(.timeLimit(.minutes(3)))
struct NotificationEventsTests {
    @Test("each event type gives exactly one notification with the right message and user, delivered once")
    func eachEventType() async throws {
        try await NotificationTests.withUserService { userURL, register in
            let runtime = try await TestRuntimes.make(.notification, overrides: ["user.url": userURL])
            let consumer = NotificationEventsConsumer(repository: NotificationRepository(store: runtime.store))
            let sender = RecordingSender()
            let delivery = NotificationTests.delivery(runtime, sender: sender)
            let notifications = NotificationTests.notifications(runtime)
            let logger = NotificationTests.logger
            let user = try await register()
            let order = NotificationTests.newID()
            let gone = NotificationTests.newID()  // never registered: the user service answers 404
            let created = try #require(
                try await consumer.handle(
                    NotificationTests.message(
                        Topics.userCreated.name,
                        #"{"email":"\#(user.email)","userId":"\#(user.id)","eventId":"e-created-\#(order)","type":"user-created","occurredAt":1735787045123}"#
                    ),
                    logger: logger
                )
            )
            let paid = try #require(
                try await consumer.handle(
                    NotificationTests.message(
                        Topics.paymentEvents.name,
                        #"{"orderId":"\#(order)","userId":"\#(user.id)","reservationId":"r1","amount":12.5,"method":"card","status":"success","timestamp":"2026-01-02T03:04:05Z","eventId":"e-paid-\#(order)","type":"payment.succeeded"}"#
                    ),
                    logger: logger
                )
            )
            // An older producer: no eventId/type, status "failure"; the id comes from the message's position.
            let declined = try #require(
                try await consumer.handle(
                    NotificationTests.message(
                        Topics.paymentEvents.name,
                        #"{"orderId":"\#(order)","userId":"\#(user.id.uppercased())","reservationId":"r1","amount":7,"method":"","status":"failure","timestamp":"2026-01-02T03:04:05Z"}"#,
                        offset: 41
                    ),
                    logger: logger
                )
            )
            #expect(declined == "kafka:payment-events:0:41:\(user.id)")
            let refunded = try #require(
                try await consumer.handle(
                    NotificationTests.message(
                        Topics.paymentEvents.name,
                        #"{"orderId":"\#(order)","userId":"\#(user.id)","reservationId":"r1","amount":12.5,"method":"card","status":"refunded","timestamp":"2026-01-02T03:04:05Z","eventId":"e-refund-\#(order)","type":"payment.refunded"}"#
                    ),
                    logger: logger
                )
            )
            let deleted = try #require(
                try await consumer.handle(
                    NotificationTests.message(
                        Topics.userDeleted.name,
                        #"{"userId":"\#(gone)","eventId":"e-deleted-\#(gone)","type":"user-deleted","occurredAt":1735787045123}"#
                    ),
                    logger: logger
                )
            )
            #expect(try await notifications.count() == 5)
            for id in [created, paid, declined, refunded, deleted] {
                #expect(try await notifications.findOne(["_id": .string(id)])?.status == .pending)
            }
            #expect(await delivery.deliverDue() == 5)

            let expected: [(String, String, String, String)] = [
                (created, "user-created", "", "Welcome to Storefront! Your account \(user.email) has been created."),
                (
                    paid, "payment.succeeded", order,
                    "Your payment of $12.50 for order #\(order) was received. Your order is confirmed."
                ),
                (
                    declined, "payment.failed", order,
                    "Your payment of $7.00 for order #\(order) was declined. Your order was not placed."
                ),
                (refunded, "payment.refunded", order, "Your refund of $12.50 for order #\(order) has been issued."),
            ]
            for (id, type, orderID, text) in expected {
                let stored = try #require(try await notifications.findOne(["_id": .string(id)]))
                #expect(stored.userId == user.id)
                #expect(stored.type == type)
                #expect(stored.orderId == orderID)
                #expect(stored.message == text)
                #expect(stored.status == .sent)
                #expect(stored.attempts == 1)
                #expect(stored.email == user.email)  // from the event, or looked up in the user service
                #expect(stored.sentAt != nil && stored.nextAttemptAt == nil)
                #expect(sender.sent(id).map(\.to) == [user.email])
                #expect(sender.sent(id).map(\.body) == [text])
            }
            // The deleted user no longer exists and the event carries no address: nobody to send to.
            let skipped = try #require(try await notifications.findOne(["_id": .string(deleted)]))
            #expect(skipped.userId == gone)
            #expect(skipped.type == "user-deleted")
            #expect(skipped.message == "Your Storefront account has been deleted. We are sorry to see you go.")
            #expect(skipped.status == .skipped)
            #expect(skipped.lastError == "user not found: no recipient")
            #expect(sender.attempts(deleted) == 0)
            #expect(await delivery.deliverDue() == 0)
            await runtime.store.close()
        }
    }

    @Test("the same event delivered twice gives one notification, sent once")
    func redelivery() async throws {
        let runtime = try await TestRuntimes.make(.notification)
        let consumer = NotificationEventsConsumer(repository: NotificationRepository(store: runtime.store))
        let sender = RecordingSender()
        let delivery = NotificationTests.delivery(runtime, sender: sender)
        let notifications = NotificationTests.notifications(runtime)
        let user = NotificationTests.newID()
        let event = NotificationTests.message(
            Topics.userCreated.name,
            #"{"email":"twice@example.com","userId":"\#(user)","eventId":"e-twice-\#(user)","type":"user-created"}"#
        )
        let first = try await consumer.handle(event, logger: NotificationTests.logger)
        let second = try await consumer.handle(event, logger: NotificationTests.logger)
        #expect(first != nil && first == second)
        #expect(await delivery.deliverDue() == 1)
        _ = try await consumer.handle(event, logger: NotificationTests.logger)  // after it was sent
        #expect(await delivery.deliverDue() == 0)
        #expect(try await notifications.count() == 1)
        let key = try #require(first)
        let stored = try #require(try await notifications.findOne(["_id": .string(key)]))
        #expect(stored.status == .sent && stored.attempts == 1)
        #expect(sender.sent(stored.id).count == 1)
        await runtime.store.close()
    }

    @Test("a failing sender gives FAILED with the error and the attempts, retried until SENT; final after max attempts")
    func failureAndRetry() async throws {
        let runtime = try await TestRuntimes.make(.notification)
        let consumer = NotificationEventsConsumer(repository: NotificationRepository(store: runtime.store))
        let notifications = NotificationTests.notifications(runtime)
        let user = NotificationTests.newID()
        func created(_ suffix: String) async throws -> String {
            try #require(
                try await consumer.handle(
                    NotificationTests.message(
                        Topics.userCreated.name,
                        #"{"email":"retry@example.com","userId":"\#(user)","eventId":"e-\#(suffix)-\#(user)"}"#
                    ),
                    logger: NotificationTests.logger
                )
            )
        }

        // Recovers after two failures.
        let sender = RecordingSender()
        let delivery = NotificationTests.delivery(runtime, sender: sender, maxAttempts: 5)
        let id = try await created("recover")
        sender.failNext(2)
        #expect(await delivery.deliverDue() == 1)
        let failed = try #require(try await notifications.findOne(["_id": .string(id)]))
        #expect(failed.status == .failed)
        #expect(failed.attempts == 1)
        #expect(failed.lastError == "relay down: 421 service not available")
        #expect(failed.nextAttemptAt != nil)
        #expect(sender.sent(id).isEmpty)
        #expect(
            try await eventually {
                await delivery.deliverDue()
                return try await notifications.findOne(["_id": .string(id)])?.status == .sent
            }
        )
        let sent = try #require(try await notifications.findOne(["_id": .string(id)]))
        #expect(sent.attempts == 3)
        #expect(sent.lastError == nil && sent.nextAttemptAt == nil && sent.sentAt != nil)
        #expect(sender.attempts(id) == 3)
        #expect(sender.sent(id).count == 1)

        // Never recovers: FAILED for good after the last attempt, and not tried again.
        let broken = RecordingSender()
        broken.failNext(-1)
        let giveUp = NotificationTests.delivery(runtime, sender: broken, maxAttempts: 2)
        let doomed = try await created("doomed")
        #expect(
            try await eventually {
                await giveUp.deliverDue()
                let stored = try await notifications.findOne(["_id": .string(doomed)])
                return stored?.status == .failed && stored?.nextAttemptAt == nil
            }
        )
        try await Task.sleep(for: .milliseconds(200))
        #expect(await giveUp.deliverDue() == 0)
        let final = try #require(try await notifications.findOne(["_id": .string(doomed)]))
        #expect(final.attempts == 2)
        #expect(final.lastError == "relay down: 421 service not available")
        #expect(broken.attempts(doomed) == 2)
        await runtime.store.close()
    }

    @Test("a delivery slower than the lease keeps its claim: another replica's loop never sends it a second time")
    func slowDeliveryKeepsItsClaim() async throws {
        let runtime = try await TestRuntimes.make(.notification)
        let consumer = NotificationEventsConsumer(repository: NotificationRepository(store: runtime.store))
        let user = NotificationTests.newID()
        let id = try #require(
            try await consumer.handle(
                NotificationTests.message(
                    Topics.userCreated.name,
                    #"{"email":"slow@example.com","userId":"\#(user)","eventId":"e-slow-\#(user)"}"#
                ),
                logger: NotificationTests.logger
            )
        )
        // Two replicas' delivery loops on one store; the relay takes two and a half leases to accept the message.
        // The lease is 20 s so that a renewal (every 6.7 s) still lands in time when a busy machine makes each store
        // call take seconds (8 s was not enough at load average 9).
        let sender = SlowSender(delay: .seconds(50))
        let first = NotificationTests.delivery(runtime, sender: sender, lease: 20_000)
        let second = NotificationTests.delivery(runtime, sender: sender, lease: 20_000)
        let running = Task { await first.deliverDue() }
        #expect(await eventually { sender.begun == 1 })
        // While the first attempt waits for the relay, the other loop keeps looking and finds nothing due.
        var takenOver = 0
        let end = ContinuousClock.now + .seconds(48)
        while ContinuousClock.now < end {
            takenOver += await second.deliverDue()
            try await Task.sleep(for: .seconds(1))
        }
        #expect(await running.value == 1)
        #expect(takenOver == 0)
        #expect(sender.begun == 1 && sender.delivered(id) == 1)
        let stored = try #require(try await NotificationTests.notifications(runtime).findOne(["_id": .string(id)]))
        #expect(stored.status == .sent && stored.attempts == 1)
        await runtime.store.close()
    }

    @Test("a pass that reaches a notification more than a lease after it began still claims it for a whole lease")
    func lateClaimGetsAWholeLease() async throws {
        let runtime = try await TestRuntimes.make(.notification)
        let consumer = NotificationEventsConsumer(repository: NotificationRepository(store: runtime.store))
        var ids: [String] = []
        for name in ["early", "late"] {
            let user = NotificationTests.newID()
            let event = #"{"email":"\#(name)@example.com","userId":"\#(user)","eventId":"e-\#(name)-\#(user)"}"#
            let message = NotificationTests.message(Topics.userCreated.name, event)
            ids.append(try #require(try await consumer.handle(message, logger: NotificationTests.logger)))
        }
        // One pass sends both, each taking longer than the lease: the second is claimed 20 s after the pass began.
        // (A lease of 15 s, renewed every 5 s, leaves room for slow store calls on a busy machine.)
        let sender = SlowSender(delay: .seconds(20))
        let first = NotificationTests.delivery(runtime, sender: sender, lease: 15_000)
        let second = NotificationTests.delivery(runtime, sender: sender, lease: 15_000)
        let running = Task { await first.deliverDue() }
        #expect(await eventually { sender.begun == 2 })
        // Its claim runs for a lease from now (not from the pass's start, long lapsed): another replica finds
        // nothing due.
        #expect(await second.deliverDue() == 0)
        #expect(await running.value == 2)
        #expect(sender.begun == 2 && ids.allSatisfy { sender.delivered($0) == 1 })
        await runtime.store.close()
    }

    @Test("payloads that cannot become a notification are skipped and store nothing")
    func malformed() async throws {
        let runtime = try await TestRuntimes.make(.notification)
        let consumer = NotificationEventsConsumer(repository: NotificationRepository(store: runtime.store))
        let user = NotificationTests.newID()
        let order = NotificationTests.newID()
        for (topic, payload) in [
            (Topics.userCreated.name, ""), (Topics.userCreated.name, "not json"), (Topics.userCreated.name, "[]"),
            (Topics.userDeleted.name, "{}"),
            (Topics.userCreated.name, #"{"userId":42}"#), (Topics.userDeleted.name, #"{"userId":"abc"}"#),
            (Topics.paymentEvents.name, #"{"userId":"\#(user)","status":"success"}"#),  // no orderId
            (Topics.paymentEvents.name, #"{"userId":"\#(user)","orderId":"o1","status":"pending"}"#),  // unknown status
            (Topics.orderEvents.name, #"{"type":"order-shipped","userId":"\#(user)","carrier":"UPS"}"#),  // no orderId
            (Topics.orderEvents.name, #"{"type":"order-delivered","orderId":"o1","userId":"\#(user)"}"#),  // not 24-hex
            (Topics.orderEvents.name, #"{"type":"order-shipped","orderId":"\#(order)","userId":"abc"}"#),  // bad userId
            (Topics.orderEvents.name, #"{"type":"order-lost","orderId":"\#(order)","userId":"\#(user)"}"#),  // unknown
            (Topics.orderEvents.name, #"{"orderId":"\#(order)","userId":"\#(user)"}"#),  // no type
        ] {
            #expect(
                try await consumer.handle(NotificationTests.message(topic, payload), logger: NotificationTests.logger)
                    == nil
            )
        }
        #expect(try await NotificationTests.notifications(runtime).count() == 0)
        await runtime.store.close()
    }

    @Test(
        "order-events through the broker: order-shipped gives one notification with the carrier and tracking number, also when published again; order-delivered its own"
    )
    func orderShippedAndDelivered() async throws {
        try await NotificationTests.withBrokerApp { app in
            let (user, publisher, notifications, sender) = (
                try await app.register(), app.publisher, app.notifications, app.sender
            )
            let order = NotificationTests.newID()
            let shipped = Self.orderEvent(.shipped, order: order, user: user.id)
            try await publisher.publish(shipped, to: Topics.orderEvents)
            let shippedID = "order-\(order)-order-shipped:\(user.id)"
            #expect(
                try await eventually { try await notifications.findOne(["_id": .string(shippedID)])?.status == .sent }
            )
            // The same event again, then order-delivered on the same key (same partition, so handled after it).
            try await publisher.publish(shipped, to: Topics.orderEvents)
            try await publisher.publish(
                Self.orderEvent(.delivered, order: order, user: user.id),
                to: Topics.orderEvents
            )
            let deliveredID = "order-\(order)-order-delivered:\(user.id)"
            #expect(
                try await eventually {
                    try await notifications.findOne(["_id": .string(deliveredID)])?.status == .sent
                }
            )
            #expect(try await notifications.count(["orderId": .string(order)]) == 2)
            let expected = [
                (
                    shippedID, "order-shipped",
                    "Your order #\(order) has shipped with UPS. Tracking number: 1Z999AA10123456784."
                ),
                (deliveredID, "order-delivered", "Your order #\(order) was delivered."),
            ]
            for (id, type, text) in expected {
                let stored = try #require(try await notifications.findOne(["_id": .string(id)]))
                #expect(stored.userId == user.id)
                #expect(stored.orderId == order)
                #expect(stored.type == type)
                #expect(stored.message == text)
                #expect(stored.status == .sent && stored.attempts == 1)
                #expect(stored.email == user.email)  // looked up in the user service
                #expect(sender.sent(id).map(\.body) == [text])
            }
            let message = try #require(try await notifications.findOne(["_id": .string(shippedID)])).message
            #expect(message.contains("UPS") && message.contains("1Z999AA10123456784"))
        }
    }

    @Test(
        "order-events through the broker: placed, confirmed, failed, cancelled, refunded and rejected give no notification"
    )
    func orderEventsNotNotified() async throws {
        try await NotificationTests.withBrokerApp { app in
            let (user, publisher, notifications) = (try await app.register(), app.publisher, app.notifications)
            let order = NotificationTests.newID()
            let skipped = OrderEvent.Kind.allCases.filter { $0 != .shipped && $0 != .delivered }
            #expect(skipped.contains(.placed) && skipped.contains(.confirmed) && skipped.contains(.rejected))
            for kind in skipped {
                try await publisher.publish(Self.orderEvent(kind, order: order, user: user.id), to: Topics.orderEvents)
            }
            // A marker after them on the same key (same partition, so handled after them).
            try await publisher.publish(
                Self.orderEvent(.delivered, order: order, user: user.id),
                to: Topics.orderEvents
            )
            let markerID = "order-\(order)-order-delivered:\(user.id)"
            #expect(
                try await eventually { try await notifications.findOne(["_id": .string(markerID)])?.status == .sent }
            )
            #expect(try await notifications.count(["orderId": .string(order)]) == 1)
        }
    }

    /// An order event of `kind` for `order` of `user`, shipped by UPS with a fixed tracking number.
    private static func orderEvent(_ kind: OrderEvent.Kind, order: String, user: String) -> OrderEvent {
        OrderEvent(
            kind,
            orderId: order,
            userId: user,
            products: [OrderEvent.Line(productId: NotificationTests.newID(), quantity: 2, price: 4.5)],
            total: 9,
            status: kind == .rejected ? nil : "confirmed",
            reason: [.failed, .rejected].contains(kind) ? "card declined" : nil,
            carrier: [.shipped, .delivered].contains(kind) ? "UPS" : nil,
            trackingNumber: [.shipped, .delivered].contains(kind) ? "1Z999AA10123456784" : nil
        )
    }
}
