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

@testable import InventoryService

/// `order-events` into inventory: an order that ends without a sale gives its held stock back, whether or not the
/// order service got to withdraw the reservation itself.
@Suite(.timeLimit(.minutes(3)))
struct OrderEventsTests {
    static func setup() async throws -> (ServiceRuntime, Reservations, OrderEventsConsumer, PaymentEventsConsumer) {
        let (runtime, reservations, payments) = try await PaymentEventsTests.setup()
        return (runtime, reservations, OrderEventsConsumer(reservations: reservations), payments)
    }

    static func orderMessage(_ kind: OrderEvent.Kind, order: String) throws -> KafkaBusMessage {
        let event = OrderEvent(
            kind,
            orderId: order,
            userId: InventoryTests.newID(),
            products: [],
            total: 0,
            status: nil
        )
        return KafkaBusMessage(
            topic: Topics.orderEvents.name,
            key: order,
            value: Array(try StorefrontJSON.encoder().encode(event))
        )
    }

    @Test("order-failed, -cancelled, -rejected release the held units once; repeated, they change nothing")
    func releasesOnce() async throws {
        let (runtime, reservations, consumer, payments) = try await Self.setup()
        let a = try await InventoryTests.stock(runtime, 10)
        for kind in [OrderEvent.Kind.failed, .cancelled, .rejected] {
            let order = InventoryTests.newID()
            let reservation = try await PaymentEventsTests.reserve(reservations, order, [(a, 4)])
            #expect(try await InventoryTests.record(runtime, a).reserved == 4)
            // The order's earlier events hold on.
            for earlier in [OrderEvent.Kind.placed, .confirmed, .shipped] {
                try await consumer.orders.handle(
                    try Self.orderMessage(earlier, order: order),
                    logger: InventoryTests.logger
                )
            }
            #expect(try await InventoryTests.record(runtime, a).reserved == 4, "\(kind)")

            let message = try Self.orderMessage(kind, order: order)
            try await consumer.orders.handle(message, logger: InventoryTests.logger)
            var record = try await InventoryTests.record(runtime, a)
            #expect(record.inventory == 10 && record.reserved == 0 && record.sold == 0, "\(kind)")
            let released = try #require(try await reservations.find(id: reservation.id))
            #expect(released.status == .cancelled && released.stock == .released && released.outcome == "withdrawn")

            // Another order holds units now; the same event again, and the withdrawal the order service may still
            // send, leave both the record and the reservation as they were.
            let other = try await PaymentEventsTests.reserve(reservations, InventoryTests.newID(), [(a, 3)])
            try await consumer.orders.handle(message, logger: InventoryTests.logger)
            _ = try await reservations.withdraw(id: reservation.id)
            record = try await InventoryTests.record(runtime, a)
            #expect(record.inventory == 7 && record.reserved == 3 && record.sold == 0, "\(kind)")
            #expect(try await reservations.find(id: reservation.id) == released)

            // A payment success arriving after it sells nothing (the order service refunds it).
            try await payments.handler.handle(
                InventoryTests.paymentMessage(reservation.id, order: order, status: "success"),
                logger: InventoryTests.logger
            )
            #expect(try await InventoryTests.record(runtime, a).sold == 0)
            _ = try await reservations.withdraw(id: other.id)
        }
        // Without a 24-hex orderId, the event is poison.
        await #expect(throws: KafkaBusPoisonMessage.self) {
            try await consumer.orders.handle(
                try Self.orderMessage(.failed, order: "o-1"),
                logger: InventoryTests.logger
            )
        }
        await runtime.store.close()
    }

    @Test("sold units stay sold on order-failed; a reservation lost after a late payment stays lost")
    func soldAndLostUnchanged() async throws {
        let (runtime, reservations, consumer, payments) = try await Self.setup()
        let a = try await InventoryTests.stock(runtime, 5)
        // Paid (inventory sold it) while the order service failed the order, its payment's outcome unknown to it:
        // the money goes back first, then the units, both by the order service's payment-events consumer.
        let paidOrder = InventoryTests.newID()
        let paid = try await PaymentEventsTests.reserve(reservations, paidOrder, [(a, 2)])
        try await payments.handler.handle(
            InventoryTests.paymentMessage(paid.id, order: paidOrder, status: "success"),
            logger: InventoryTests.logger
        )
        try await consumer.orders.handle(
            try Self.orderMessage(.failed, order: paidOrder),
            logger: InventoryTests.logger
        )
        var record = try await InventoryTests.record(runtime, a)
        #expect(record.sold == 2 && record.inventory == 3)
        let sold = try #require(try await reservations.find(id: paid.id))
        #expect(sold.status == .committed && sold.stock == .sold && sold.outcome == nil)

        // Cancelled by a failed payment, its stock taken, then paid late: lost (reservation-lost fails the order).
        let lostOrder = InventoryTests.newID()
        let lost = try await PaymentEventsTests.reserve(reservations, lostOrder, [(a, 3)])
        _ = try await reservations.cancel(id: lost.id)
        _ = try await PaymentEventsTests.reserve(reservations, InventoryTests.newID(), [(a, 2)])
        guard case .lost = try await reservations.commit(id: lost.id) else {
            Issue.record("expected lost")
            return
        }
        try await consumer.orders.handle(
            try Self.orderMessage(.failed, order: lostOrder),
            logger: InventoryTests.logger
        )
        #expect(try await reservations.find(id: lost.id)?.outcome == "lost")
        record = try await InventoryTests.record(runtime, a)
        #expect(record.sold == 2 && record.reserved == 2 && record.inventory == 1)
        await runtime.store.close()
    }

    @Test("order-rejected before the slow request reserved: the reserve that follows holds nothing")
    func rejectedBeforeReserved() async throws {
        let (runtime, reservations, consumer, _) = try await Self.setup()
        let a = try await InventoryTests.stock(runtime, 5)
        let order = InventoryTests.newID()
        let rejected = try Self.orderMessage(.rejected, order: order)
        try await consumer.orders.handle(rejected, logger: InventoryTests.logger)
        try await consumer.orders.handle(rejected, logger: InventoryTests.logger)
        let outcome = try await reservations.reserve(orderID: order, items: [.init(productId: a, quantity: 4)])
        guard case .existing(let remembered) = outcome else {
            Issue.record("expected the withdrawn reservation, got \(outcome)")
            return
        }
        #expect(remembered.status == .cancelled && remembered.outcome == "withdrawn" && remembered.items.isEmpty)
        let record = try await InventoryTests.record(runtime, a)
        #expect(record.inventory == 5 && record.reserved == 0)
        #expect(try await reservations.commit(id: remembered.id) == .withdrawn)  // a payment for it sells nothing

        // The event while the slow request is still holding (`reserving`): retried, and released once it has held.
        let slow = InventoryTests.newID()
        let now = Date().epochMilliseconds
        let holding = Reservation(
            id: InventoryTests.newID(),
            orderId: slow,
            status: .pending,
            stock: .reserving,
            items: [.init(productId: a, quantity: 1)],
            expiresAt: now + 60_000,
            createdAt: now,
            updatedAt: now
        )
        try await reservations.collection.insert(holding)
        let late = try Self.orderMessage(.rejected, order: slow)
        await #expect(throws: PaymentEventsConsumer.NotReady.self) {
            try await consumer.orders.handle(late, logger: InventoryTests.logger)
        }
        // The request's last steps (``Reservations/reserve(orderID:items:)``), then the consumer's retry.
        #expect(try await reservations.ledger.hold(holding.id, holding.items[0]))
        try await reservations.collection.updateOne(["_id": .string(holding.id)], ["$set": ["stock": "held"]])
        #expect(try await InventoryTests.record(runtime, a).reserved == 1)
        try await consumer.orders.handle(late, logger: InventoryTests.logger)
        let after = try await InventoryTests.record(runtime, a)
        #expect(after.inventory == 5 && after.reserved == 0)
        await runtime.store.close()
    }

    @Test("through the broker: order-failed releases held units; after order-rejected, POST /reserve holds nothing")
    func throughTheBroker() async throws {
        let (runtime, app) = try await InventoryTests.makeApp()
        let publisher = EventPublisher(producer: try runtime.makeProducer())  // the runtime's one, run by the app
        let service = try await InventoryTests.auth(runtime, role: .service)
        let product = try await InventoryTests.stock(runtime, 6)
        try await app.test(.router) { client in
            let failed = InventoryTests.newID()
            try await client.execute(
                uri: "/reserve",
                method: .post,
                headers: service,
                body: InventoryTests.reserveBody(failed, [(product, 4)])
            ) { #expect($0.status == .created) }
            #expect(try await InventoryTests.record(runtime, product).reserved == 4)
            try await publisher.publish(
                OrderEvent(
                    .failed,
                    orderId: failed,
                    userId: InventoryTests.newID(),
                    products: [],
                    total: 0,
                    status: nil
                ),
                to: Topics.orderEvents
            )
            #expect(
                try await eventually {
                    let record = try await InventoryTests.record(runtime, product)
                    return record.inventory == 6 && record.reserved == 0
                }
            )

            let rejected = InventoryTests.newID()
            try await publisher.publish(
                OrderEvent(
                    .rejected,
                    orderId: rejected,
                    userId: InventoryTests.newID(),
                    products: [],
                    total: 0,
                    status: nil
                ),
                to: Topics.orderEvents
            )
            #expect(
                try await eventually {
                    try await InventoryTests.reservations(runtime).find(orderID: rejected) != nil
                }
            )
            try await client.execute(
                uri: "/reserve",
                method: .post,
                headers: service,
                body: InventoryTests.reserveBody(rejected, [(product, 4)])
            ) { response in
                #expect(response.status == .ok)
                let body = try InventoryTests.decode(InventoryTests.ReservationBody.self, response)
                #expect(body.status == "CANCELLED" && body.orderId == rejected)
            }
            let record = try await InventoryTests.record(runtime, product)
            #expect(record.inventory == 6 && record.reserved == 0)
        }
    }
}
