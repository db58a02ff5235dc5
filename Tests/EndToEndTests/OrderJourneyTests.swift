import Foundation
import NIOHTTP1
import ServiceKit
import Synchronization
import TestSupport
import Testing

/// The seven services as processes on their ports (`scripts/stack`), with the real dev store and dev broker, driven
/// only through their public HTTP routes. Serialized: some tests stop or kill services the others use.
@Suite("End to end: the seven services as processes", .serialized, .runningStack)
struct OrderJourneyTests {
    let stack: Stack
    let shop: Shop

    init() async throws {
        self.stack = try #require(Stack.current, "the suite runs inside .runningStack")
        self.shop = try await Shop.open()
    }

    @Test(
        "register → cart → admin product → add to cart → order → confirmed; stock, reservation, payment, cart, notices"
    )
    func orderIsConfirmed() async throws {
        let customer = try await self.shop.register()
        let product = try await self.shop.createProduct(price: 12.5, stock: 5)
        #expect(try await self.shop.stock(product) == .init(available: 5, reserved: 0, sold: 0))
        let added = try await self.shop.addToCart(customer, product, quantity: 2)
        #expect(added.status == 200, "\(added)")

        let placed = try await self.shop.placeOrder(customer)
        try #require(placed.status == 201, "\(placed)")
        let orderID = try #require(placed.string("_id"))
        let reservationID = try #require(placed.string("reservationId"))
        #expect(placed.string("userId") == customer.id)
        #expect(placed.json?["total"]?.numberValue == 25)
        #expect(placed.string("address") == "1 Main St")
        #expect(["pending", "confirmed"].contains(placed.string("status")), "\(placed)")

        #expect(try await self.shop.waitForOrder(orderID, "confirmed", as: customer) == "confirmed")
        #expect(try await self.shop.waitForStock(product, .init(available: 3, reserved: 0, sold: 2)).sold == 2)
        #expect(try await self.shop.reservationStatus(reservationID) == "COMMITTED")
        let payments = try await self.shop.payments(orderID, as: customer)
        #expect(payments.count == 1, "\(payments)")
        #expect(payments.first?["status"]?.stringValue == "success")
        #expect(payments.first?["amount"]?.numberValue == 25)
        #expect(try await eventually { try await self.shop.cart(customer).isEmpty })
        #expect(try await self.shop.orders(of: customer).map { $0["_id"]?.stringValue } == [orderID])

        let delivered = try await eventually {
            let welcome = try await self.shop.notifications(customer, type: "user-created")
            let paid = try await self.shop.notifications(customer, type: "payment.succeeded")
            return welcome.count == 1 && paid.count == 1 && paid[0]["status"]?.stringValue == "SENT"
        }
        let notices = try await self.shop.notifications(customer)
        #expect(delivered, "\(notices)")
        let paid = notices.first { $0["type"]?.stringValue == "payment.succeeded" }
        #expect(paid?["orderId"]?.stringValue == orderID)
        #expect(paid?["message"]?.stringValue?.contains("25.00") == true, "\(String(describing: paid))")
    }

    @Test("a declined card: the order fails, the stock comes back, the customer is told")
    func declinedCard() async throws {
        let customer = try await self.shop.register()
        let product = try await self.shop.createProduct(price: 4, stock: 3)
        #expect(try await self.shop.addToCart(customer, product, quantity: 3).status == 200)

        let placed = try await self.shop.placeOrder(customer, paymentInfo: "card_declined")
        try #require(placed.status == 201, "\(placed)")
        #expect(placed.string("status") == "failed", "\(placed)")
        let orderID = try #require(placed.string("_id"))

        #expect(try await self.shop.waitForStock(product, .init(available: 3, reserved: 0, sold: 0)).available == 3)
        #expect(try await self.shop.reservationStatus(try #require(placed.string("reservationId"))) == "CANCELLED")
        let payments = try await self.shop.payments(orderID, as: customer)
        #expect(payments.map { $0["status"]?.stringValue } == ["failed"], "\(payments)")
        #expect(try await eventually { try await self.shop.notifications(customer, type: "payment.failed").count == 1 })
        #expect(try await self.shop.order(orderID, as: customer).string("status") == "failed")
        // Nothing was bought: order-failed gives the cart its items back for another try.
        #expect(try await eventually { try await self.shop.cart(customer).count == 1 })
    }

    @Test("the payment service is down during the order: the order fails, nothing is charged, the stock comes back")
    func paymentServiceDown() async throws {
        let customer = try await self.shop.register()
        let product = try await self.shop.createProduct(price: 9, stock: 2)
        #expect(try await self.shop.addToCart(customer, product, quantity: 2).status == 200)

        try await self.stack.stop(.payment)
        let placed: Shop.Answer
        do {
            placed = try await self.shop.placeOrder(customer)
        } catch {
            try await self.stack.restartStopped()
            throw error
        }
        try await self.stack.restartStopped()

        try #require(placed.status == 201, "\(placed)")
        #expect(placed.string("status") == "failed", "\(placed)")
        let orderID = try #require(placed.string("_id"))
        #expect(try await self.shop.waitForStock(product, .init(available: 2, reserved: 0, sold: 0)).available == 2)
        #expect(try await self.shop.reservationStatus(try #require(placed.string("reservationId"))) == "CANCELLED")
        // Back up: it has no record of the order, and the order stays failed.
        #expect(try await self.shop.payments(orderID, as: customer).isEmpty)
        #expect(try await self.shop.order(orderID, as: customer).string("status") == "failed")

        // The same cart orders fine now, once order-failed has given it its items back.
        #expect(try await eventually { try await self.shop.cart(customer).count == 1 })
        let again = try await self.shop.placeOrder(customer)
        let againID = try #require(again.string("_id"), "\(again)")
        #expect(try await self.shop.waitForOrder(againID, "confirmed", as: customer) == "confirmed")
        #expect(try await self.shop.waitForStock(product, .init(available: 0, reserved: 0, sold: 2)).sold == 2)
    }

    @Test("a payment slower than the order's deadline: the order fails, the late charge is refunded, no stock is lost")
    func paymentOutlivesTheOrder() async throws {
        let customer = try await self.shop.register()
        let product = try await self.shop.createProduct(price: 6, stock: 4)
        #expect(try await self.shop.addToCart(customer, product, quantity: 1).status == 200)

        // Each charge takes 8 s; the order gives up after 2 attempts of 3 s (HTTP_CLIENT_TIMEOUT_MS), and the
        // charge succeeds after that.
        try await self.stack.restart(.payment, with: ["PAYMENT_LATENCY_MS": "8000"])
        let placed: Shop.Answer
        do {
            placed = try await self.shop.placeOrder(customer)
        } catch {
            try await self.stack.restart(.payment, with: [:])
            throw error
        }
        try #require(placed.status == 201, "\(placed)")
        #expect(placed.string("status") == "failed", "\(placed)")
        let orderID = try #require(placed.string("_id"))

        var payments: [JSONValue] = []
        let refunded = try await eventually {
            payments = try await self.shop.payments(orderID, as: customer)
            return payments.map { $0["status"]?.stringValue } == ["refunded"]
        }
        try await self.stack.restart(.payment, with: [:])
        #expect(refunded, "\(payments)")
        #expect(try await self.shop.order(orderID, as: customer).string("status") == "failed")
        #expect(try await self.shop.waitForStock(product, .init(available: 4, reserved: 0, sold: 0)).available == 4)
        #expect(
            try await eventually { try await self.shop.notifications(customer, type: "payment.refunded").count == 1 }
        )
    }

    @Test("a partial refund leaves the order confirmed; cancelling it refunds the rest and puts its units back on sale")
    func cancelConfirmedOrder() async throws {
        let customer = try await self.shop.register()
        let product = try await self.shop.createProduct(price: 20, stock: 3)
        #expect(try await self.shop.addToCart(customer, product, quantity: 2).status == 200)
        let placed = try await self.shop.placeOrder(customer)
        let orderID = try #require(placed.string("_id"), "\(placed)")
        #expect(try await self.shop.waitForOrder(orderID, "confirmed", as: customer) == "confirmed")
        #expect(try await self.shop.waitForStock(product, .init(available: 1, reserved: 0, sold: 2)).sold == 2)

        // A goodwill refund of 5.00 by the admin, sent twice with one key: refunded once, the order stays.
        let paymentID = try #require(try await self.shop.payments(orderID, as: customer).first?["_id"]?.stringValue)
        for _ in 0..<2 {
            let goodwill = try await Shop.call(
                .POST,
                .payment,
                "/payments/\(paymentID)/refund",
                body: #"{"amount":5}"#,
                token: self.shop.admin.token,
                headers: [("Idempotency-Key", "goodwill-\(orderID)")]
            )
            #expect(goodwill.status == 200 && goodwill.json?["refundedAmount"]?.numberValue == 5, "\(goodwill)")
        }
        #expect(
            try await eventually { try await self.shop.notifications(customer, type: "payment.refunded").count == 1 }
        )
        #expect(try await self.shop.order(orderID, as: customer).string("status") == "confirmed")

        let cancelled = try await Shop.call(.POST, .order, "/order/\(orderID)/cancel", token: customer.token)
        #expect(cancelled.status == 200 && cancelled.string("status") == "refunded", "\(cancelled)")
        let payments = try await self.shop.payments(orderID, as: customer)
        #expect(payments.map { $0["status"]?.stringValue } == ["refunded"], "\(payments)")
        #expect(payments.first?["refundedAmount"]?.numberValue == 40)
        #expect(try await self.shop.waitForStock(product, .init(available: 3, reserved: 0, sold: 0)).available == 3)
        #expect(
            try await eventually { try await self.shop.notifications(customer, type: "payment.refunded").count == 2 }
        )
        let again = try await Shop.call(.POST, .order, "/order/\(orderID)/cancel", token: customer.token)
        #expect(again.status == 409 && again.errorCode == "invalid_state", "\(again)")
    }

    @Test("a full refund by the admin voids a confirmed order: refunded, its units back on sale")
    func adminFullRefund() async throws {
        let customer = try await self.shop.register()
        let product = try await self.shop.createProduct(price: 15, stock: 2)
        #expect(try await self.shop.addToCart(customer, product, quantity: 1).status == 200)
        let orderID = try #require(try await self.shop.placeOrder(customer).string("_id"))
        #expect(try await self.shop.waitForOrder(orderID, "confirmed", as: customer) == "confirmed")
        #expect(try await self.shop.waitForStock(product, .init(available: 1, reserved: 0, sold: 1)).sold == 1)

        let paymentID = try #require(try await self.shop.payments(orderID, as: customer).first?["_id"]?.stringValue)
        let refund = try await Shop.call(.POST, .payment, "/payments/\(paymentID)/refund", token: self.shop.admin.token)
        #expect(refund.status == 200 && refund.string("status") == "refunded", "\(refund)")
        #expect(try await self.shop.waitForOrder(orderID, "refunded", as: customer) == "refunded")
        #expect(try await self.shop.waitForStock(product, .init(available: 2, reserved: 0, sold: 0)).available == 2)
    }

    @Test("two requests with one Idempotency-Key: one order, one charge")
    func idempotencyKey() async throws {
        let customer = try await self.shop.register()
        let product = try await self.shop.createProduct(price: 7, stock: 10)
        #expect(try await self.shop.addToCart(customer, product, quantity: 1).status == 200)
        let key = UUID().uuidString

        let answers = try await withThrowingTaskGroup(of: Shop.Answer.self) { group in
            for _ in 0..<2 { group.addTask { try await self.shop.placeOrder(customer, idempotencyKey: key) } }
            return try await group.reduce(into: [Shop.Answer]()) { $0.append($1) }
        }
        // The second either replays the first answer or, while the first still runs, is told to retry (409).
        #expect(answers.allSatisfy { $0.status == 201 || $0.errorCode == "idempotency_key_in_progress" }, "\(answers)")
        let ids = Set(answers.compactMap { $0.status == 201 ? $0.string("_id") : nil })
        try #require(ids.count == 1, "\(answers)")
        let orderID = try #require(ids.first)
        var replay = try await self.shop.placeOrder(customer, idempotencyKey: key)
        _ = try await eventually {
            replay = try await self.shop.placeOrder(customer, idempotencyKey: key)
            return replay.status == 201
        }
        #expect(replay.string("_id") == orderID, "\(replay)")
        #expect(replay.headers.first(name: "Idempotent-Replayed") == "true")

        #expect(try await self.shop.waitForOrder(orderID, "confirmed", as: customer) == "confirmed")
        #expect(try await self.shop.orders(of: customer).count == 1)
        #expect(try await self.shop.payments(orderID, as: customer).count == 1)
        #expect(try await self.shop.waitForStock(product, .init(available: 9, reserved: 0, sold: 1)).sold == 1)
    }

    @Test("12 customers race for 5 units: exactly 5 confirmed orders, 0 available, nobody charged without stock")
    func raceForLastUnits() async throws {
        let product = try await self.shop.createProduct(price: 3, stock: 5)
        let customers = try await withThrowingTaskGroup(of: Shop.Account.self) { group in
            for _ in 0..<12 { group.addTask { try await self.shop.register() } }
            return try await group.reduce(into: [Shop.Account]()) { $0.append($1) }
        }
        // Everyone may put one in the cart: the cart checks stock, it does not hold it.
        let adds = try await withThrowingTaskGroup(of: Int.self) { group in
            for customer in customers {
                group.addTask { try await self.shop.addToCart(customer, product, quantity: 1).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(adds == Array(repeating: 200, count: 12))
        for customer in customers { #expect(try await self.shop.cart(customer).count == 1) }

        let answers = try await withThrowingTaskGroup(of: (Shop.Account, Shop.Answer).self) { group in
            for customer in customers { group.addTask { (customer, try await self.shop.placeOrder(customer)) } }
            return try await group.reduce(into: [(Shop.Account, Shop.Answer)]()) { $0.append($1) }
        }
        let winners = answers.filter { $0.1.status == 201 }
        let losers = answers.filter { $0.1.status != 201 }
        #expect(winners.count == 5, "\(answers.map(\.1))")
        #expect(
            losers.allSatisfy { $0.1.status == 409 && $0.1.errorCode == "insufficient_stock" },
            "\(losers.map(\.1))"
        )

        for (customer, answer) in winners {
            let orderID = try #require(answer.string("_id"))
            #expect(try await self.shop.waitForOrder(orderID, "confirmed", as: customer) == "confirmed")
            #expect(try await self.shop.payments(orderID, as: customer).count == 1)
        }
        for (customer, _) in losers {
            #expect(try await self.shop.orders(of: customer).isEmpty, "an order (and so a charge) without stock")
        }
        #expect(try await self.shop.waitForStock(product, .init(available: 0, reserved: 0, sold: 5)).sold == 5)
    }

    @Test("cart and notification consumers killed mid-stream and restarted: every event has its effect exactly once")
    func consumersKilledMidStream() async throws {
        // Both consumers are live: a first customer has a cart and a welcome.
        let first = try await self.shop.register()
        #expect(try await eventually { try await self.shop.notifications(first, type: "user-created").count == 1 })

        let registered = Accounts()
        let stream = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        try await Task.sleep(for: .milliseconds(250 * index))
                        let account = try await self.shop.register(waitForCart: false)
                        registered.list.withLock { $0.append(account) }
                    }
                }
                try await group.waitForAll()
            }
        }
        // Kill both (no graceful close: nothing they handled is committed, see Stack.settings) once a few of the
        // stream's events have been handled, while the rest are still being published.
        let handling = try await eventually(.seconds(20)) {
            var welcomed = 0
            for account in registered.list.withLock({ $0 }) where welcomed < 3 {
                welcomed += try await self.shop.notifications(account, type: "user-created").count
            }
            return welcomed >= 3
        }
        try await self.stack.kill(.notification)
        try await self.stack.kill(.cart)
        let registeredAtKill = registered.list.withLock { $0.count }
        try await stream.value
        try await self.stack.restartStopped()
        #expect(handling && registeredAtKill < 24, "killed after \(registeredAtKill) of 24 registrations")

        // Every event is handled again after the restart, the first customer's included: one effect each.
        let customers = [first] + registered.list.withLock { $0 }
        for customer in customers {
            #expect(
                try await eventually(.seconds(60)) {
                    try await Shop.call(.GET, .cart, "/user/\(customer.id)", token: customer.token).status == 200
                },
                "no cart for \(customer.id)"
            )
            var welcomes: [JSONValue] = []
            #expect(
                try await eventually(.seconds(60)) {
                    welcomes = try await self.shop.notifications(customer, type: "user-created")
                    return !welcomes.isEmpty
                }
            )
            #expect(welcomes.count == 1, "\(welcomes)")
        }
        // Redelivered events must not add a second welcome later either.
        try await Task.sleep(for: .seconds(2))
        for customer in customers {
            #expect(try await self.shop.notifications(customer, type: "user-created").count == 1)
        }
    }
}

/// Accounts registered by concurrent tasks, in the order they completed.
private final class Accounts: Sendable {
    let list = Mutex<[Shop.Account]>([])
}
