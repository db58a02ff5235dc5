import Foundation
import KafkaBus
import MongoStore
import ServiceKit
import StorefrontAdminKit
import StorefrontContracts
import TestSupport
import Testing

@testable import CartService
@testable import InventoryService
@testable import NotificationService
@testable import OrderService

/// Replays into the running platform: real services on live ports, real flows producing the events, the real store
/// and broker. Each test stops every service, moves consumer groups back with ``EventAdmin/replay(group:topic:to:)``,
/// starts the services again and waits until they handled everything again.
@Suite("storefront-admin: replays into the running services", .serialized, .timeLimit(.minutes(10)))
struct ReplayTests {
    @Test("replaying payment-events and user-created into every consumer, order-events into inventory: no change")
    func replayChangesNothing() async throws {
        let platform = Platform()
        let groups = platform.groups
        try await AdminTests.withAdmin { admin in
            let before = try await platform.run { running in
                let product = try await running.newProduct(price: 5, stock: 20)
                for paymentInfo in ["tok_visa", "tok_visa", "card_declined"] {
                    let user = try await running.newUser()
                    try await running.addToCart(user, product, 2)
                    let answer = try await running.placeOrder(user, paymentInfo: paymentInfo)
                    if paymentInfo == "tok_visa", let order = answer.string("_id") {
                        let confirmed = try await eventually(.seconds(60)) {
                            try await running.orderStatus(order) == "confirmed"
                        }
                        let status = try await running.orderStatus(order)
                        try #require(confirmed, "order \(order) is \(status ?? "?"): \(answer)")
                    }
                }
                try await running.settle(admin, groups)
                return try await running.snapshot()
            }
            #expect(
                before["order/orders"]?.count == 3 || before["order/orders"]?.count == 2,
                "\(before["order/orders"] ?? [])"
            )
            #expect((before["notification/notifications"]?.count ?? 0) >= 5)

            // Every consumer of payment-events and user-created handles all of it again; inventory all of order-events.
            let replayed = [
                (groups.inventory.payments, Topics.paymentEvents.name),
                (groups.inventory.orders, Topics.orderEvents.name),
                (groups.order.payment, Topics.paymentEvents.name),
                (groups.notification.payment, Topics.paymentEvents.name),
                (groups.cart.userCreated, Topics.userCreated.name),
                (groups.notification.userCreated, Topics.userCreated.name),
            ]
            for (group, topic) in replayed {
                let positions = try await admin.replay(group: group, topic: topic, to: .earliest)
                #expect(positions.allSatisfy { $0.committed == $0.low }, "\(group): \(positions)")
                #expect(positions.reduce(0) { $0 + $1.lag } >= 3, "\(group) has nothing to replay: \(positions)")
            }

            let after = try await platform.run { running in
                try await running.settle(admin, groups)
                return try await running.snapshot()
            }
            for key in before.keys.sorted() {
                #expect(before[key] == after[key], "\(key) changed by the replay")
            }
        }
    }

    @Test(
        "every cart deleted from the store: replaying user-created and order-events into the cart service rebuilds them"
    )
    func replayRebuildsCarts() async throws {
        let platform = Platform()
        let groups = platform.groups
        try await AdminTests.withAdmin { admin in
            let (before, deleted) = try await platform.run { running in
                let product = try await running.newProduct(price: 3, stock: 20)
                // Two customers whose orders were confirmed (their carts emptied by order-confirmed), one who never
                // ordered, one who was deleted (no cart, and none must come back).
                for _ in 0..<2 {
                    let user = try await running.newUser()
                    try await running.addToCart(user, product, 1)
                    let answer = try await running.placeOrder(user)
                    let order = try #require(answer.string("_id"), "\(answer)")
                    #expect(try await eventually(.seconds(60)) { try await running.orderStatus(order) == "confirmed" })
                }
                _ = try await running.newUser()
                let deleted = try await running.newUser()
                try await running.deleteUser(deleted)
                try await running.settle(admin, groups)
                let before = try await running.cartContents()
                #expect(before.count == 3 && before[deleted] == nil, "\(before)")
                #expect(try await running.store(.cart).collection("carts", as: JSONValue.self).deleteMany([:]) == 3)
                return (before, deleted)
            }

            // The cart service is stopped; its user-created and order-events groups go back to the start.
            for (group, topic) in [
                (groups.cart.userCreated, Topics.userCreated.name), (groups.cartOrders, Topics.orderEvents.name),
            ] {
                let positions = try await admin.replay(group: group, topic: topic, to: .earliest)
                #expect(positions.reduce(0) { $0 + $1.lag } > 0, "\(group): \(positions)")
            }

            try await platform.run { running in
                try await running.settle(admin, groups)
                let after = try await running.cartContents()
                #expect(after == before)
                #expect(after[deleted] == nil)
            }
        }
    }
}

extension Platform.Running {
    /// Every cart's lines and checkouts, by user id (without its timestamps and version, which a rebuild renews).
    func cartContents() async throws -> [String: JSONValue] {
        let documents = try await self.store(.cart).collection("carts", as: JSONValue.self).find()
        var contents: [String: JSONValue] = [:]
        for cart in documents {
            contents[cart["_id"]?.stringValue ?? ""] = .object([
                "items": cart["items"] ?? .null, "checkouts": cart["checkouts"] ?? .object([:]),
            ])
        }
        return contents
    }
}
