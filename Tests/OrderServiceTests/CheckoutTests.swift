import Foundation
import HTTPTypes
import MongoStore
import NIOHTTP1
import ServiceAuth
import ServiceKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

@testable import OrderService

/// Checkout as a step of its own: one cart's lines are ordered once, whatever the client repeats; the cart follows
/// its orders through `order-events`, also after being down; a crashed order service settles within seconds; orders
/// ship and are delivered. Real services on live ports, the real store and broker; the payment stub only where the
/// charge must be held back.
@Suite("checkout", .timeLimit(.minutes(5)))
struct CheckoutTests {
    @Test(
        "2, then 10 concurrent POST /order without a key on one cart: one order, one charge; the others 409 naming it"
    )
    func doubleSubmit() async throws {
        // The stub charges without the event, so the winning order stays pending for the whole test.
        try await OrderStack.with(payment: .stub(.approveWithoutEvent)) { stack in
            let product = try await stack.newProduct(price: 4, stock: 50)
            for concurrent in [2, 10] {
                let user = try await stack.newUser()
                try await stack.addToCart(user, product, 1)
                let answers = try await withThrowingTaskGroup(of: OrderStack.Answer.self) { group in
                    for _ in 0..<concurrent { group.addTask { try await stack.placeOrder(user) } }
                    return try await group.reduce(into: [OrderStack.Answer]()) { $0.append($1) }
                }
                let created = answers.filter { $0.status == 201 }
                try #require(created.count == 1, "\(answers.map { "\($0.status) \($0.text.prefix(200))" })")
                let orderID = try #require(created[0].string("_id"))
                for answer in answers where answer.status != 201 {
                    #expect(answer.status == 409 && answer.errorCode == "checkout_in_progress", "\(answer.text)")
                    #expect(answer.json?["error"]?["orderId"]?.stringValue == orderID, "\(answer.text)")
                }
                #expect(try await stack.orders().count(["userId": .string(user)]) == 1)
                #expect(try await stack.payments(orderID).count == 1)
            }
            #expect(stack.stub?.charges() == 2)  // one per customer
            #expect(try await stack.stock(product).map { $0.available } == 48)
        }
    }

    @Test("two different Idempotency-Keys for one cart: one order; the other 409 checkout_in_progress")
    func twoKeys() async throws {
        try await OrderStack.with(payment: .stub(.approveWithoutEvent)) { stack in
            let user = try await stack.newUser()
            let product = try await stack.newProduct(price: 4, stock: 5)
            try await stack.addToCart(user, product, 1)
            async let first = stack.placeOrder(user, key: "key-a")
            async let second = stack.placeOrder(user, key: "key-b")
            let answers = try await [first, second]
            #expect(answers.map(\.status).sorted() == [201, 409], "\(answers.map(\.text))")
            let created = try #require(answers.first { $0.status == 201 })
            let refused = try #require(answers.first { $0.status == 409 })
            #expect(refused.errorCode == "checkout_in_progress")
            #expect(refused.json?["error"]?["orderId"]?.stringValue == created.string("_id"))
            #expect(stack.stub?.charges() == 1)
        }
    }

    @Test("cart service down when the order is confirmed: once back, the ordered lines leave the cart, nothing else")
    func cartCatchesUp() async throws {
        try await OrderStack.with(payment: .stub(.approveWithoutEvent), separate: [.cart]) { stack in
            let product = try await stack.newProduct(price: 2, stock: 5)
            let other = try await stack.newProduct(price: 3, stock: 5)
            var user = ""
            var orderID = ""
            try await stack.withCart {
                user = try await stack.newUser()
                try await stack.addToCart(user, product, 2)
                let placed = try await stack.placeOrder(user)
                #expect(placed.status == 201 && placed.string("status") == "pending", "\(placed.text)")
                orderID = try #require(placed.string("_id"))
                try await stack.addToCart(user, other, 1)
            }
            // The cart service is stopped: the order is confirmed and its order-confirmed waits in the topic.
            try await stack.replayPayment(orderID, status: "success")
            #expect(try await eventually { try await stack.orderStatus(orderID) == "confirmed" })
            #expect(try await stack.checkouts(user) == [orderID: [product: 2]])
            try await stack.withCart { () async throws in
                #expect(try await eventually { try await stack.checkouts(user).isEmpty })
                #expect(try await stack.cartQuantities(user) == [other: 1])
            }
        }
    }

    @Test("order service SIGKILLed between storing an order and charging it: final within 30 s of its restart")
    func crashBeforeCharging() async throws {
        // One payment attempt makes the order process's time limits short (pending timeout: one attempt at 10 s
        // and 5 s), and 10 s gives the peers' calls room on a busy machine. The stub holds POST /payments unanswered
        // and charges nothing, so the kill lands after the order was stored and before any charge.
        try await OrderStack.with(
            payment: .stub(.hang),
            overrides: [
                "http.client.timeout.ms": "10000", "order.payment.attempts": "1", "order.sweep.interval.ms": "500",
            ],
            separate: [.orderProcess]
        ) { stack in
            try await stack.startOrder()
            let user = try await stack.newUser()
            let product = try await stack.newProduct(price: 7, stock: 4)
            try await stack.addToCart(user, product, 1)
            let stub = try #require(stack.stub)
            let key = "crash-\(UUID().uuidString)"
            let placing = Task { try? await stack.placeOrder(user, key: key) }
            #expect(try await eventually { stub.calls.withLock { $0 } >= 1 })
            await stack.killOrder()
            _ = await placing.value
            let orders = try await stack.orders().find(["userId": .string(user)])
            try #require(orders.count == 1 && orders[0].status == .pending, "\(orders)")
            let orderID = orders[0].id.hex
            #expect(try await stack.available(product) == 3)  // held for the order

            try await stack.startOrder()
            let restarted = ContinuousClock.now
            // The sweeper asks the payment service, finds no charge, fails the order and releases its stock.
            #expect(
                try await eventually(.seconds(30)) { try await stack.orderStatus(orderID) == "failed" },
                "\(stack.separate.orderLog)"
            )
            #expect(ContinuousClock.now - restarted < .seconds(30))
            #expect(try await eventually { try await stack.available(product) == 4 })
            #expect(try await eventually { try await stack.cartQuantities(user) == [product: 1] })  // order-failed
            // The same key now gets that order at once, instead of 409 for minutes.
            let retried = try await stack.placeOrder(user, key: key)
            #expect(retried.status == 201 && retried.string("_id") == orderID, "\(retried.text)")
            #expect(retried.string("status") == "failed")
            #expect(retried.headers.first(name: "Idempotent-Replayed") == "true")
            #expect(stub.charges() == 0)
            #expect(try await stack.orders().count() == 1)
        }
    }

    @Test("inventory down when the order fails at payment: once it is back, order-failed releases the held stock")
    func releasedByTheEvent() async throws {
        // The stub holds POST /payments until released and then answers 503 (nothing charged): the order fails at
        // payment while inventory is stopped, so the order service's own withdrawal fails, and only its order-failed
        // event is left to give the units back.
        try await OrderStack.with(payment: .stub(.hang), separate: [.inventory]) { stack in
            let stub = try #require(stack.stub)
            let user = try await stack.newUser()
            var product = ""
            var placing: Task<OrderStack.Answer?, Never>?
            try await stack.withInventory {
                product = try await stack.newProduct(price: 3, stock: 5)
                try await stack.addToCart(user, product, 2)
                placing = Task { try? await stack.placeOrder(user) }
                #expect(try await eventually { stub.calls.withLock { $0 } >= 1 })  // reserved and stored
                #expect(try await stack.stock(product).map { $0.available == 3 && $0.reserved == 2 } ?? false)
            }
            stub.release()
            let placed = try #require(await placing?.value)
            #expect(placed.status == 201 && placed.string("status") == "failed", "\(placed.text)")
            let orderID = try #require(placed.string("_id"))
            #expect(await stack.orderEvents(orderID, count: 2).map(\.type) == ["order-placed", "order-failed"])

            try await stack.withInventory {
                #expect(
                    try await eventually {
                        try await stack.stock(product).map { $0.available == 5 && $0.reserved == 0 } ?? false
                    }
                )
                let reservation = try #require(
                    try await stack.inventory.store.collection("reservations", as: JSONValue.self)
                        .findOne(["orderId": .string(orderID)])
                )
                #expect(
                    reservation["status"] == .string("CANCELLED") && reservation["outcome"] == .string("withdrawn"),
                    "\(reservation)"
                )
            }
            #expect(stub.charges() == 0)
        }
    }

    @Test("pending → confirmed → shipped → delivered; refused: shipping a failed order, cancelling a shipped one")
    func shipping() async throws {
        try await OrderStack.with { stack in
            let user = try await stack.newUser()
            let product = try await stack.newProduct(price: 6, stock: 3)
            try await stack.addToCart(user, product, 1)
            let placed = try await stack.placeOrder(user)
            let orderID = try #require(placed.string("_id"))
            #expect(try await eventually { try await stack.orderStatus(orderID) == "confirmed" })
            let admin = try await stack.auth(MongoObjectID().hex, .admin)
            let owner = try await stack.auth(user)
            let ship = #"{"carrier":"DHL","trackingNumber":"JD0123456789"}"#

            let byOwner = try await stack.call(
                .post,
                stack.orderURL,
                "/order/\(orderID)/ship",
                body: ship,
                headers: owner
            )
            #expect(byOwner.status == 403)
            let early = try await stack.call(.post, stack.orderURL, "/order/\(orderID)/deliver", headers: admin)
            #expect(early.status == 409 && early.errorCode == "invalid_state", "\(early.text)")
            let noCarrier = try await stack.call(
                .post,
                stack.orderURL,
                "/order/\(orderID)/ship",
                body: #"{"trackingNumber":"x"}"#,
                headers: admin
            )
            #expect(noCarrier.status == 400 && noCarrier.errorCode == "validation_failed")

            let shipped = try await stack.call(
                .post,
                stack.orderURL,
                "/order/\(orderID)/ship",
                body: ship,
                headers: admin
            )
            #expect(shipped.status == 200 && shipped.string("status") == "shipped", "\(shipped.text)")
            #expect(shipped.string("carrier") == "DHL" && shipped.string("trackingNumber") == "JD0123456789")
            #expect(shipped.string("shippedAt") != nil)
            let again = try await stack.call(
                .post,
                stack.orderURL,
                "/order/\(orderID)/ship",
                body: ship,
                headers: admin
            )
            #expect(again.status == 200 && again.string("status") == "shipped")  // a retried call
            let cancel = try await stack.call(.post, stack.orderURL, "/order/\(orderID)/cancel", headers: owner)
            #expect(cancel.status == 409 && cancel.errorCode == "invalid_state", "\(cancel.text)")

            let delivered = try await stack.call(.post, stack.orderURL, "/order/\(orderID)/deliver", headers: admin)
            #expect(delivered.status == 200 && delivered.string("status") == "delivered", "\(delivered.text)")
            #expect(delivered.string("deliveredAt") != nil && delivered.string("_id") == orderID)
            #expect(try await stack.orderStatus(orderID) == "delivered")

            // A failed order cannot ship.
            try await stack.addToCart(user, product, 1)
            let declined = try await stack.placeOrder(user, paymentInfo: "card_declined")
            #expect(declined.string("status") == "failed", "\(declined.text)")
            let failedID = try #require(declined.string("_id"))
            let refused = try await stack.call(
                .post,
                stack.orderURL,
                "/order/\(failedID)/ship",
                body: ship,
                headers: admin
            )
            #expect(refused.status == 409 && refused.errorCode == "invalid_state", "\(refused.text)")

            // Every state entered was announced once, in order, with the order's lines and total.
            let events = await stack.orderEvents(orderID, count: 4)
            #expect(events.map(\.type) == ["order-placed", "order-confirmed", "order-shipped", "order-delivered"])
            #expect(events.allSatisfy { $0.userId == user && $0.total == 6 && $0.products.count == 1 })
            #expect(events.first { $0.type == "order-shipped" }?.trackingNumber == "JD0123456789")
        }
    }

    @Test("product or inventory service down: POST /order is 503 dependency_unavailable; the cart gets its lines back")
    func peerDown() async throws {
        for peer in [StorefrontService.product, .inventory] {
            // The order service alone is pointed at an address where nothing listens; the cart's peers stay real.
            let dead = "http://127.0.0.1:\(try FreePort.find())"
            try await OrderStack.with(overrides: [peer.urlKey: dead]) { stack in
                let user = try await stack.newUser()
                let product = try await stack.newProduct(price: 5, stock: 2)
                try await stack.addToCart(user, product, 2)
                let placed = try await stack.placeOrder(user)
                #expect(placed.status == 503 && placed.errorCode == "dependency_unavailable", "\(peer): \(placed.text)")
                // order-rejected releases the checkout; nothing was stored, reserved or charged.
                #expect(try await eventually { try await stack.cartQuantities(user) == [product: 2] })
                #expect(try await stack.checkouts(user).isEmpty)
                #expect(try await stack.orders().count() == 0)
                #expect(try await stack.charges() == 0)
                #expect(try await stack.available(product) == 2)
                #expect(
                    await eventually {
                        stack.allOrderEvents.filter { $0.userId == user }.map(\.type) == ["order-rejected"]
                    }
                )
            }
        }
    }
}
