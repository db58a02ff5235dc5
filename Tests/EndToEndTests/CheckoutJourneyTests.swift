import Foundation
import NIOHTTP1
import ServiceKit
import TestSupport
import Testing

/// Checkout and shipping through the seven services as processes, driven only over HTTP: part of the end-to-end
/// suite (one stack on the real ports, so one suite).
extension OrderJourneyTests {
    @Test("double submit (no key, then two keys): one order and one charge per cart; the others refused, naming it")
    func doubleSubmit() async throws {
        let product = try await self.shop.createProduct(price: 9, stock: 10)
        for keys in [[String?](repeating: nil, count: 3), ["first-\(UUID())", "second-\(UUID())"]] {
            let customer = try await self.shop.register()
            #expect(try await self.shop.addToCart(customer, product, quantity: 1).status == 200)
            let answers = try await withThrowingTaskGroup(of: Shop.Answer.self) { group in
                for key in keys { group.addTask { try await self.shop.placeOrder(customer, idempotencyKey: key) } }
                return try await group.reduce(into: [Shop.Answer]()) { $0.append($1) }
            }
            let created = answers.filter { $0.status == 201 }
            try #require(created.count == 1, "\(answers)")
            let orderID = try #require(created[0].string("_id"))
            for answer in answers where answer.status != 201 {
                // 409 naming the order while it is placed or pending; once it is confirmed, its lines have left the
                // cart and there is nothing to order (a fast machine can get there before a late duplicate).
                let refused =
                    (answer.status == 409 && answer.errorCode == "checkout_in_progress"
                        && answer.json?["error"]?["orderId"]?.stringValue == orderID)
                    || (answer.status == 400 && answer.errorCode == "cart_empty")
                #expect(refused, "\(answer)")
            }
            #expect(try await self.shop.waitForOrder(orderID, "confirmed", as: customer) == "confirmed")
            #expect(try await self.shop.orders(of: customer).count == 1)
            #expect(try await self.shop.payments(orderID, as: customer).count == 1)
            #expect(try await eventually { try await self.shop.cart(customer).isEmpty })
        }
        #expect(try await self.shop.waitForStock(product, .init(available: 8, reserved: 0, sold: 2)).sold == 2)
    }

    @Test("confirmed → shipped → delivered by staff; the customer is told, with the tracking number; no cancel")
    func shipping() async throws {
        let customer = try await self.shop.register()
        let product = try await self.shop.createProduct(price: 15, stock: 2)
        #expect(try await self.shop.addToCart(customer, product, quantity: 1).status == 200)
        let placed = try await self.shop.placeOrder(customer)
        let orderID = try #require(placed.string("_id"), "\(placed)")
        #expect(try await self.shop.waitForOrder(orderID, "confirmed", as: customer) == "confirmed")

        let ship = #"{"carrier":"UPS","trackingNumber":"1Z999AA10123456784"}"#
        let byCustomer = try await Shop.call(.POST, .order, "/order/\(orderID)/ship", body: ship, token: customer.token)
        #expect(byCustomer.status == 403, "\(byCustomer)")
        let shipped = try await Shop.call(
            .POST,
            .order,
            "/order/\(orderID)/ship",
            body: ship,
            token: self.shop.admin.token
        )
        #expect(shipped.status == 200 && shipped.string("status") == "shipped", "\(shipped)")
        let cancel = try await Shop.call(.POST, .order, "/order/\(orderID)/cancel", token: customer.token)
        #expect(cancel.status == 409 && cancel.errorCode == "invalid_state", "\(cancel)")
        let delivered = try await Shop.call(
            .POST,
            .order,
            "/order/\(orderID)/deliver",
            token: self.shop.admin.token
        )
        #expect(delivered.status == 200 && delivered.string("status") == "delivered", "\(delivered)")
        let seen = try await self.shop.order(orderID, as: customer)
        #expect(seen.string("status") == "delivered" && seen.string("trackingNumber") == "1Z999AA10123456784")

        let told = try await eventually {
            let shipping = try await self.shop.notifications(customer, type: "order-shipped")
            let arrival = try await self.shop.notifications(customer, type: "order-delivered")
            return shipping.count == 1 && arrival.count == 1
                && shipping[0]["message"]?.stringValue?.contains("1Z999AA10123456784") == true
        }
        let notices = try await self.shop.notifications(customer)
        #expect(told, "\(notices)")
    }
}
