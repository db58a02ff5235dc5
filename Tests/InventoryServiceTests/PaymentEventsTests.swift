import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import MongoStore
import ServiceAuth
import ServiceKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

@testable import InventoryService

@Suite(.timeLimit(.minutes(3)))
struct PaymentEventsTests {
    static func setup(
        ttl: Duration = .seconds(900)
    ) async throws -> (ServiceRuntime, Reservations, PaymentEventsConsumer) {
        let runtime = try await TestRuntimes.make(.inventory)
        let reservations = InventoryTests.reservations(runtime, ttl: ttl)
        try await reservations.ledger.prepare()
        try await reservations.prepare()
        try await Outbox.prepare(runtime.store)
        return (runtime, reservations, PaymentEventsConsumer(reservations: reservations, notifyOutbox: {}))
    }

    static func reserve(
        _ reservations: Reservations,
        _ order: String,
        _ items: [(String, Int)]
    ) async throws -> Reservation {
        let outcome = try await reservations.reserve(
            orderID: order,
            items: items.map { .init(productId: $0.0, quantity: $0.1) }
        )
        guard case .created(let reservation) = outcome else {
            Issue.record("reserve: \(outcome)")
            throw CancellationError()
        }
        return reservation
    }

    @Test("success commits once under redelivery; a failure after it is refused; refunded changes nothing")
    func commitIdempotent() async throws {
        let (runtime, reservations, consumer) = try await Self.setup()
        let a = try await InventoryTests.stock(runtime, 5)
        let b = try await InventoryTests.stock(runtime, 5)
        let r = try await Self.reserve(reservations, "o-commit", [(a, 2), (b, 1)])
        let success = InventoryTests.paymentMessage(r.id, order: "o-commit", status: "success")
        try await consumer.handler.handle(success, logger: InventoryTests.logger)
        try await consumer.handler.handle(success, logger: InventoryTests.logger)
        var ra = try await InventoryTests.record(runtime, a)
        #expect(ra.inventory == 3 && ra.reserved == 0 && ra.sold == 2)
        #expect(try await InventoryTests.record(runtime, b).sold == 1)
        try await consumer.handler.handle(
            InventoryTests.paymentMessage(r.id, order: "o-commit", status: "failed"),
            logger: InventoryTests.logger
        )
        try await consumer.handler.handle(
            InventoryTests.paymentMessage(r.id, order: "o-commit", status: "refunded"),
            logger: InventoryTests.logger
        )
        let after = try #require(try await reservations.find(id: r.id))
        #expect(after.status == .committed && after.stock == .sold)
        ra = try await InventoryTests.record(runtime, a)
        #expect(ra.inventory == 3 && ra.reserved == 0 && ra.sold == 2)
        // Malformed events are poison: the consumer dead-letters them at once.
        for payload in ["", "nope", "{}", #"{"status":"success"}"#] {
            await #expect(throws: KafkaBusPoisonMessage.self, "\(payload)") {
                try await consumer.handler.handle(
                    KafkaBusMessage(topic: Topics.paymentEvents.name, value: Array(payload.utf8)),
                    logger: InventoryTests.logger
                )
            }
        }
        // One for a reservation this service does not know is handled (skipped), not poison.
        try await consumer.handler.handle(
            KafkaBusMessage(
                topic: Topics.paymentEvents.name,
                value: Array(#"{"status":"success","reservationId":"x"}"#.utf8)
            ),
            logger: InventoryTests.logger
        )
        await runtime.store.close()
    }

    @Test("failed (and the original's failure) cancels once; the normal commit of a cancelled reservation is refused")
    func cancelThenCommit() async throws {
        let (runtime, reservations, consumer) = try await Self.setup()
        let a = try await InventoryTests.stock(runtime, 5)
        let r = try await Self.reserve(reservations, "o-cancel", [(a, 4)])
        try await consumer.handler.handle(
            InventoryTests.paymentMessage(r.id, order: "o-cancel", status: "failure"),
            logger: InventoryTests.logger
        )
        try await consumer.handler.handle(
            InventoryTests.paymentMessage(r.id, order: "o-cancel", status: "failed"),
            logger: InventoryTests.logger
        )
        var record = try await InventoryTests.record(runtime, a)
        #expect(record.inventory == 5 && record.reserved == 0 && record.sold == 0)
        #expect(try await reservations.find(id: r.id)?.status == .cancelled)
        // Someone else takes 3, so a late success for the cancelled reservation finds 2 < 4: refused and reported.
        _ = try await Self.reserve(reservations, "o-other", [(a, 3)])
        #expect(
            try await reservations.commit(id: r.id)
                == .lost(reason: "insufficient stock for product \(a) after the reservation was cancelled")
        )
        #expect(try await reservations.commit(id: r.id) == .alreadyLost)
        record = try await InventoryTests.record(runtime, a)
        #expect(record.inventory == 2 && record.reserved == 3 && record.sold == 0)
        let final = try #require(try await reservations.find(id: r.id))
        #expect(final.status == .cancelled && final.outcome == "lost")
        let outbox = try await runtime.store.collection(Outbox.collectionName, as: OutboxRecord.self).find()
        #expect(outbox.count == 1)
        #expect(outbox.first?.topic == Topics.inventoryEvents.name && outbox.first?.key == "o-cancel")
        await runtime.store.close()
    }

    @Test("a late success for an expired reservation sells the items again when stock allows (all or nothing)")
    func lateSuccessResells() async throws {
        let (runtime, reservations, consumer) = try await Self.setup(ttl: .milliseconds(1))
        let a = try await InventoryTests.stock(runtime, 5)
        let b = try await InventoryTests.stock(runtime, 2)
        let r = try await Self.reserve(reservations, "o-late", [(a, 3), (b, 2)])
        try await Task.sleep(for: .milliseconds(20))
        #expect(try await reservations.sweep(logger: InventoryTests.logger) >= 1)
        #expect(try await reservations.find(id: r.id)?.status == .expired)
        #expect(try await InventoryTests.record(runtime, a).inventory == 5)
        let success = InventoryTests.paymentMessage(r.id, order: "o-late", status: "success")
        try await consumer.handler.handle(success, logger: InventoryTests.logger)
        try await consumer.handler.handle(success, logger: InventoryTests.logger)
        let ra = try await InventoryTests.record(runtime, a)
        let rb = try await InventoryTests.record(runtime, b)
        #expect(ra.inventory == 2 && ra.sold == 3 && ra.reserved == 0)
        #expect(rb.inventory == 0 && rb.sold == 2)
        let final = try #require(try await reservations.find(id: r.id))
        #expect(final.status == .committed && final.stock == .sold && final.outcome == "late-commit")

        // All or nothing: the second item short gives the first one back.
        let c = try await InventoryTests.stock(runtime, 5)
        let d = try await InventoryTests.stock(runtime, 1)
        let r2 = try await Self.reserve(reservations, "o-late2", [(c, 2), (d, 1)])
        try await Task.sleep(for: .milliseconds(20))
        try await reservations.sweep(logger: InventoryTests.logger)
        _ = try await Self.reserve(reservations, "o-taker", [(d, 1)])
        guard case .lost = try await reservations.commit(id: r2.id) else {
            Issue.record("expected lost")
            return
        }
        let rc = try await InventoryTests.record(runtime, c)
        #expect(rc.inventory == 5 && rc.sold == 0)
        await runtime.store.close()
    }

    @Test("a withdrawn order's stock goes back on sale: held or sold, once; a late success then sells nothing")
    func withdraw() async throws {
        let (runtime, reservations, consumer) = try await Self.setup(ttl: .milliseconds(300))
        let a = try await InventoryTests.stock(runtime, 5)

        // Paid, then withdrawn (cancelled before shipping): sold → available, twice applied once.
        let paid = try await Self.reserve(reservations, "o-paid", [(a, 2)])
        try await consumer.handler.handle(
            InventoryTests.paymentMessage(paid.id, order: "o-paid", status: "success"),
            logger: InventoryTests.logger
        )
        #expect(try await InventoryTests.record(runtime, a).sold == 2)
        for _ in 0..<2 {
            guard case .withdrawn(let withdrawn) = try await reservations.withdraw(id: paid.id) else {
                Issue.record("expected withdrawn")
                return
            }
            #expect(withdrawn.status == .cancelled && withdrawn.stock == .released && withdrawn.outcome == "withdrawn")
        }
        var record = try await InventoryTests.record(runtime, a)
        #expect(record.inventory == 5 && record.reserved == 0 && record.sold == 0)
        // A redelivered success for it commits nothing again.
        try await consumer.handler.handle(
            InventoryTests.paymentMessage(paid.id, order: "o-paid", status: "success"),
            logger: InventoryTests.logger
        )
        #expect(try await InventoryTests.record(runtime, a).sold == 0)

        // Withdrawn while held (the order failed before its payment's outcome was known): a late success sells
        // nothing, although the stock is there.
        let pending = try await Self.reserve(reservations, "o-pending", [(a, 3)])
        guard case .withdrawn = try await reservations.withdraw(id: pending.id) else {
            Issue.record("expected withdrawn")
            return
        }
        #expect(try await InventoryTests.record(runtime, a).inventory == 5)
        #expect(try await reservations.commit(id: pending.id) == .withdrawn)
        record = try await InventoryTests.record(runtime, a)
        #expect(record.inventory == 5 && record.sold == 0)

        // Expired first, then withdrawn: the status stays EXPIRED, and a late success sells nothing either.
        let lapsed = try await Self.reserve(reservations, "o-lapsed", [(a, 1)])
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await reservations.sweep(logger: InventoryTests.logger) >= 1)
        guard case .withdrawn(let expired) = try await reservations.withdraw(id: lapsed.id) else {
            Issue.record("expected withdrawn")
            return
        }
        #expect(expired.status == .expired && expired.outcome == "withdrawn")
        #expect(try await reservations.commit(id: lapsed.id) == .withdrawn)
        record = try await InventoryTests.record(runtime, a)
        #expect(record.inventory == 5 && record.reserved == 0 && record.sold == 0)
        #expect(try await reservations.withdraw(id: InventoryTests.newID()) == .notFound)
        await runtime.store.close()
    }

    @Test(
        "through the broker: a success published twice sells once; a late success without stock emits reservation-lost"
    )
    func throughTheBroker() async throws {
        let (runtime, app) = try await InventoryTests.makeApp(["reservation.ttl.seconds": "1"])
        let producer = try runtime.makeProducer()
        let publisher = EventPublisher(producer: producer)
        let service = try await InventoryTests.auth(runtime, role: .service)
        let admin = try await InventoryTests.auth(runtime, role: .admin)
        let product = try await InventoryTests.stock(runtime, 10)
        let lostOrder = "order-lost-\(UUID().uuidString)"
        let received = Mutex<[InventoryEvent]>([])
        let listener = try runtime.makeConsumer(
            groupID: TestEnvironment.uniqueName("inventory-events-test"),
            handler: EventHandler(Topics.inventoryEvents) { event, _ in
                if event.orderId == lostOrder { received.withLock { $0.append(event) } }
            }
        )
        struct Payment: Encodable {
            var orderId: String
            var userId: String
            var reservationId: String
            var amount: Double
            var method: String
            var status: String
            var timestamp: String
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The producer is the runtime's one, which the application runs.
            group.addTask { try await listener.run() }
            try await app.test(.router) { client in
                // 1. Normal commit, delivered twice.
                var reservationID = ""
                try await client.execute(
                    uri: "/reserve",
                    method: .post,
                    headers: service,
                    body: InventoryTests.reserveBody("order-paid", [(product, 2)])
                ) { reservationID = try InventoryTests.decode(InventoryTests.ReservationBody.self, $0).reservationId }
                let paid = Payment(
                    orderId: "order-paid",
                    userId: "u",
                    reservationId: reservationID,
                    amount: 9,
                    method: "card",
                    status: "success",
                    timestamp: "2026-01-02T03:04:05Z"
                )
                try await publisher.publishForeign(paid, to: Topics.paymentEvents, key: "order-paid")
                try await publisher.publishForeign(paid, to: Topics.paymentEvents, key: "order-paid")
                #expect(
                    try await eventually { try await InventoryTests.record(runtime, product).sold == 2 }
                )
                // 2. A reservation that expires, whose stock is then taken, then paid late.
                var lostID = ""
                try await client.execute(
                    uri: "/reserve",
                    method: .post,
                    headers: service,
                    body: InventoryTests.reserveBody(lostOrder, [(product, 5)])
                ) { lostID = try InventoryTests.decode(InventoryTests.ReservationBody.self, $0).reservationId }
                #expect(
                    try await eventually {
                        try await InventoryTests.reservations(runtime).find(id: lostID)?.stock == .released
                    }
                )
                // Stock shrinks meanwhile (an admin count): 2 left on hand, fewer than the 5 the late order needs.
                try await client.execute(
                    uri: "/update/\(product)",
                    method: .put,
                    headers: admin,
                    body: InventoryTests.body(#"{"onHand":2}"#)
                ) { #expect($0.status == .ok) }
                var late = paid
                late.orderId = lostOrder
                late.reservationId = lostID
                try await publisher.publishForeign(late, to: Topics.paymentEvents, key: lostOrder)
                try await publisher.publishForeign(paid, to: Topics.paymentEvents, key: "order-paid")  // a third copy
                #expect(try await eventually { received.withLock { !$0.isEmpty } })
                let event = try #require(received.withLock { $0.first })
                #expect(event.type == "reservation-lost" && event.reservationId == lostID)
                #expect(event.eventId == "reservation-lost-\(lostID)" && event.reason?.contains(product) == true)
                let record = try await InventoryTests.record(runtime, product)
                // 2 sold (once), 2 available, nothing held: the lost order holds nothing.
                #expect(record.sold == 2 && record.reserved == 0 && record.inventory == 2 && record.received == 4)
                #expect(try await InventoryTests.reservations(runtime).find(id: lostID)?.outcome == "lost")
            }
            group.cancelAll()
        }
    }
}
