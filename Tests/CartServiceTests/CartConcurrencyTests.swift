import Foundation
import Hummingbird
import HummingbirdTesting
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import TestSupport
import Testing

@testable import CartService

/// Concurrent adds through the HTTP route against the real store: no lost update, and the stock cap holds.
@Suite(.timeLimit(.minutes(3)))
struct CartConcurrencyTests {
    /// Sends `count` concurrent adds of `quantity`; returns their statuses.
    static func concurrentAdds(
        _ client: some TestClientProtocol,
        headers: HTTPFields,
        user: String,
        product: String,
        count: Int,
        quantity: Int = 1
    ) async throws -> [HTTPResponse.Status] {
        try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
            for _ in 0..<count {
                group.addTask {
                    try await client.execute(
                        uri: "/addtocart",
                        method: .post,
                        headers: headers,
                        body: CartTests.addBody(user, product, quantity)
                    ) { $0.status }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test("20 concurrent adds of 1 end at exactly +20, for a new cart and for an existing one")
    func noLostUpdates() async throws {
        try await CartTests.withCatalog { catalog in
            let (runtime, app) = try await CartTests.makeApp(overrides: catalog.peers)
            let user = CartTests.newID()
            let product = try await catalog.product(stock: 1000)
            let auth = try await CartTests.auth(runtime, user)
            try await app.test(.router) { client in
                // No cart yet: the first adds race to create it.
                let first = try await Self.concurrentAdds(
                    client,
                    headers: auth,
                    user: user,
                    product: product,
                    count: 20
                )
                #expect(first.allSatisfy { $0 == .ok }, "\(first)")
                #expect(
                    try await CartTests.carts(runtime).findOne(["_id": .string(user)])?.items[product]?.quantity == 20
                )
                let second = try await Self.concurrentAdds(
                    client,
                    headers: auth,
                    user: user,
                    product: product,
                    count: 20
                )
                #expect(second.allSatisfy { $0 == .ok }, "\(second)")
                #expect(
                    try await CartTests.carts(runtime).findOne(["_id": .string(user)])?.items[product]?.quantity == 40
                )
                #expect(try await CartTests.carts(runtime).count(["_id": .string(user)]) == 1)
            }
        }
    }

    @Test("concurrent adds beyond the stock stop exactly at the stock: 10 available, 15 adds → 10 succeed, 5 get 409")
    func stockCapUnderConcurrency() async throws {
        try await CartTests.withCatalog { catalog in
            let (runtime, app) = try await CartTests.makeApp(overrides: catalog.peers)
            let user = CartTests.newID()
            let product = try await catalog.product(stock: 10)
            let auth = try await CartTests.auth(runtime, user)
            try await app.test(.router) { client in
                let statuses = try await Self.concurrentAdds(
                    client,
                    headers: auth,
                    user: user,
                    product: product,
                    count: 15
                )
                #expect(statuses.filter { $0 == .ok }.count == 10, "\(statuses)")
                #expect(statuses.filter { $0 == .conflict }.count == 5, "\(statuses)")
                #expect(
                    try await CartTests.carts(runtime).findOne(["_id": .string(user)])?.items[product]?.quantity == 10
                )
            }
        }
    }

    @Test("an add changes only its own cart, also when another cart already holds the same product")
    func addTouchesOnlyItsOwnCart() async throws {
        let runtime = try await TestRuntimes.make(.cart)
        let repository = CartRepository(store: runtime.store)
        let (first, second, product) = (CartTests.newID(), CartTests.newID(), CartTests.newID())
        #expect(
            try await repository.add(userID: first, productID: product, quantity: 1, limit: 10) == .added(quantity: 1)
        )
        #expect(try await repository.createEmptyCart(userID: second))
        // The conditional update must match the second cart only (dev-store gap 16 made it change the first).
        #expect(
            try await repository.add(userID: second, productID: product, quantity: 2, limit: 10) == .added(quantity: 2)
        )
        #expect(
            try await repository.add(userID: second, productID: product, quantity: 3, limit: 10) == .added(quantity: 5)
        )
        #expect(try await repository.cart(userID: first)?.items[product]?.quantity == 1)
        #expect(try await repository.cart(userID: second)?.items[product]?.quantity == 5)
        await runtime.store.close()
    }

    @Test("the conditional update itself: the store admits an add only while the total stays within the limit")
    func repositoryCap() async throws {
        let runtime = try await TestRuntimes.make(.cart)
        let repository = CartRepository(store: runtime.store)
        let (user, product) = (CartTests.newID(), CartTests.newID())
        let outcomes = try await withThrowingTaskGroup(of: CartAddOutcome.self) { group in
            for _ in 0..<12 {
                group.addTask { try await repository.add(userID: user, productID: product, quantity: 2, limit: 15) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { if case .added = $0 { true } else { false } }.count == 7)
        #expect(outcomes.filter { $0 == .insufficientStock }.count == 5)
        #expect(try await repository.cart(userID: user)?.items[product]?.quantity == 14)
        // A second product in the same cart is capped on its own.
        #expect(
            try await repository.add(userID: user, productID: CartTests.newID(), quantity: 3, limit: 3)
                == .added(quantity: 3)
        )
        await runtime.store.close()
    }

    @Test("checkout moves exactly the lines it read: a cart changed since is not moved; 10 concurrent checkouts, one")
    func checkoutGuard() async throws {
        let runtime = try await TestRuntimes.make(.cart)
        let repository = CartRepository(store: runtime.store)
        let (user, product, later) = (CartTests.newID(), CartTests.newID(), CartTests.newID())
        #expect(
            try await repository.add(userID: user, productID: product, quantity: 2, limit: 9) == .added(quantity: 2)
        )
        let read = try #require(try await repository.cart(userID: user))
        // An add lands between the checkout's read and its write: the write must not happen.
        #expect(try await repository.add(userID: user, productID: later, quantity: 1, limit: 9) == .added(quantity: 1))
        let stale = CartTests.newID()
        #expect(try await repository.moveLines(of: read, to: stale) == nil)
        let unchanged = try #require(try await repository.cart(userID: user))
        #expect(unchanged.checkouts.isEmpty && unchanged.items.count == 2)

        // Read again, the same order wins every line; ten checkouts at once for other orders: exactly one.
        let orders = (0..<10).map { _ in CartTests.newID() }
        let outcomes = try await withThrowingTaskGroup(of: (String, CheckoutOutcome).self) { group in
            for order in orders {
                group.addTask { (order, try await repository.checkout(userID: user, orderID: order)) }
            }
            return try await group.reduce(into: [String: CheckoutOutcome]()) { $0[$1.0] = $1.1 }
        }
        let winners = outcomes.filter { if case .checkedOut = $0.value { true } else { false } }
        try #require(winners.count == 1, "\(outcomes)")
        let winner = try #require(winners.first)
        #expect(winner.value == .checkedOut([product: 2, later: 1]))
        for (order, outcome) in outcomes where order != winner.key {
            #expect(outcome == .inProgress(orderID: winner.key) || outcome == .contended, "\(outcome)")
        }
        // A repeat for the winning order answers the same lines; the stored cart holds them apart.
        #expect(try await repository.checkout(userID: user, orderID: winner.key) == winner.value)
        let stored = try #require(try await repository.cart(userID: user))
        #expect(stored.items.isEmpty && stored.checkouts.keys.sorted() == [winner.key])
        // Released, the lines come back, added to what was put there since; released again, nothing changes.
        #expect(
            try await repository.add(userID: user, productID: product, quantity: 1, limit: 9) == .added(quantity: 1)
        )
        #expect(try await repository.releaseCheckout(userID: user, orderID: winner.key))
        #expect(try await !repository.releaseCheckout(userID: user, orderID: winner.key))
        let released = try #require(try await repository.cart(userID: user))
        #expect(released.items.mapValues(\.quantity) == [product: 3, later: 1] && released.checkouts.isEmpty)
        await runtime.store.close()
    }
}
