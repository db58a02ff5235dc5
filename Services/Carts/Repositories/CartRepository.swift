import Foundation
import MongoStore

/// Carts in `CartService.carts` (one document per user, `_id` = user id) and deletion tombstones in
/// `CartService.deletedUsers`. Thread-safe; every call runs on the store's own thread pool.
///
/// Only operators verified on the dev store are used: `$inc`/`$set`/`$unset` on `items.<productId>…` paths,
/// `$or` with `$exists: false` and `$lte`, `findAndModify` with a conditional filter (atomic there too), `update` with
/// `upsert` and `$setOnInsert`, and the duplicate-key error of an insert on `_id`.
struct CartRepository: Sendable {
    private let carts: MongoCollection<Cart>
    private let tombstones: MongoCollection<DeletedUser>
    /// How often an add or set retries when the cart is created or changed between its steps (each retry means
    /// another request made progress, so this bounds only extreme contention).
    private static let attempts = 5

    init(store: MongoStore) {
        self.carts = store.collection("carts", as: Cart.self)
        self.tombstones = store.collection("deletedUsers", as: DeletedUser.self)
    }

    /// Creates what the repository needs at startup (collections, indexes). Idempotent.
    func prepare() async throws {
        // Both collections are keyed by `_id` only, which is unique by itself (and must not be indexed again on the
        // dev store, gap 10); no transaction uses them (gap 7). Nothing to create.
    }

    /// The user's cart, or `nil` when the user has none.
    func cart(userID: String) async throws -> Cart? {
        try await self.carts.findOne(["_id": .string(userID)])
    }

    /// Adds `quantity` of `productID` to the user's cart, creating the cart when the user has none, only if the
    /// resulting quantity of that product is at most `limit`.
    func add(userID: String, productID: String, quantity: Int, limit: Int) async throws -> CartAddOutcome {
        guard quantity > 0, quantity <= limit else { return .insufficientStock }
        let path = "items.\(productID).quantity"
        // Admit the add only while the product is absent or its quantity is at most `limit - quantity`: the check and
        // the increment are one atomic findAndModify, so concurrent adds can neither lose an update nor overshoot.
        // `$and` around the `$or`: on the dev store an update whose filter is `{_id, $or}` loses the `_id` condition
        // and changes another cart (docs/dev-store-gaps.md, gap 16).
        let filter: MongoDocument = [
            "$and": [
                ["_id": .string(userID)],
                ["$or": [[path: ["$exists": false]], [path: ["$lte": .int(limit - quantity)]]]],
            ]
        ]
        let update: MongoDocument = [
            "$inc": [path: .int(quantity), "version": 1], "$set": ["updatedAt": .int(Date().epochMilliseconds)],
        ]
        for _ in 0..<Self.attempts {
            if let cart = try await self.carts.findOneAndUpdate(filter, update, returning: .after) {
                return .added(quantity: cart.items[productID]?.quantity ?? quantity)
            }
            // Nothing matched: the cap refused the add, or there was no cart (it may have been created since).
            if let cart = try await self.carts.findOne(["_id": .string(userID)]) {
                if let current = cart.items[productID]?.quantity, current > limit - quantity {
                    return .insufficientStock
                }
                continue  // created or changed in between: try the conditional update again
            }
            let now = Date().epochMilliseconds
            switch try await self.insertCart(
                Cart(id: userID, items: [productID: .init(quantity: quantity)], createdAt: now, updatedAt: now)
            ) {
            case .inserted: return .added(quantity: quantity)
            case .userDeleted: return .userDeleted
            case .alreadyExists: continue  // created concurrently: try the conditional update again
            }
        }
        return .contended
    }

    /// Sets the quantity of `productID` (> 0) in the user's cart, creating the cart when the user has none.
    func setQuantity(userID: String, productID: String, quantity: Int) async throws -> CartSetOutcome {
        let update: MongoDocument = [
            "$set": ["items.\(productID).quantity": .int(quantity), "updatedAt": .int(Date().epochMilliseconds)],
            "$inc": ["version": 1],
        ]
        for _ in 0..<Self.attempts {
            if try await self.carts.findOneAndUpdate(["_id": .string(userID)], update) != nil { return .set }
            let now = Date().epochMilliseconds
            switch try await self.insertCart(
                Cart(id: userID, items: [productID: .init(quantity: quantity)], createdAt: now, updatedAt: now)
            ) {
            case .inserted: return .set
            case .userDeleted: return .userDeleted
            case .alreadyExists: continue
            }
        }
        return .contended
    }

    /// Removes `productID` from the user's cart.
    func removeItem(userID: String, productID: String) async throws -> CartRemoveOutcome {
        let update: MongoDocument = [
            "$unset": ["items.\(productID)": ""], "$set": ["updatedAt": .int(Date().epochMilliseconds)],
            "$inc": ["version": 1],
        ]
        guard let before = try await self.carts.findOneAndUpdate(["_id": .string(userID)], update, returning: .before)
        else { return .cartNotFound }
        return before.items[productID] == nil ? .itemNotFound : .removed
    }

    /// Empties the user's cart (the cart itself stays; lines checked out for a pending order stay with it).
    /// Returns `false` when the user has no cart.
    func clear(userID: String) async throws -> Bool {
        let result = try await self.carts.updateOne(
            ["_id": .string(userID)],
            ["$set": ["items": .document([:]), "updatedAt": .int(Date().epochMilliseconds)], "$inc": ["version": 1]]
        )
        return result.matchedCount > 0
    }

    // MARK: - Checkout

    /// Checks the cart out for order `orderID`: moves every line from `items` into `checkouts.<orderID>` in one
    /// update conditioned on the cart's `version`, so the lines moved are exactly the lines read, and of concurrent
    /// checkouts of the same lines one wins. Idempotent: a repeat for the same order answers the same lines.
    func checkout(userID: String, orderID: String) async throws -> CheckoutOutcome {
        for _ in 0..<Self.attempts {
            guard let cart = try await self.cart(userID: userID) else { return .empty }
            if let taken = cart.checkouts[orderID] { return .checkedOut(taken.items.mapValues(\.quantity)) }
            guard !cart.items.isEmpty else {
                // The newest pending checkout is the order a double submit is about.
                let pending = cart.checkouts.max { ($0.value.at, $0.key) < ($1.value.at, $1.key) }
                return pending.map { .inProgress(orderID: $0.key) } ?? .empty
            }
            if let taken = try await self.moveLines(of: cart, to: orderID) {
                return .checkedOut(taken.items.mapValues(\.quantity))
            }
            // Changed since it was read (an add, another checkout): read again.
        }
        return .contended
    }

    /// The checkout's one write: moves `cart`'s lines into `checkouts.<orderID>`, only if the stored cart is still at
    /// `cart.version` (so the lines moved are exactly the lines read). Returns the checkout, or `nil` when the cart
    /// changed since it was read (nothing was written).
    func moveLines(of cart: Cart, to orderID: String) async throws -> Cart.Checkout? {
        let now = Date().epochMilliseconds
        let taken = Cart.Checkout(items: cart.items, at: now)
        // Documents written before `version` existed have none: version 0 matches those too.
        let sameVersion: MongoDocument =
            cart.version == 0
            ? ["$or": [["version": 0], ["version": ["$exists": false]]]] : ["version": .int(cart.version)]
        let moved = try await self.carts.updateOne(
            ["$and": [["_id": .string(cart.id)], .document(sameVersion)]],
            [
                "$set": [
                    "items": .document([:]), "checkouts.\(orderID)": try MongoValue(encoding: taken),
                    "updatedAt": .int(now),
                ],
                "$inc": ["version": 1],
            ]
        )
        return moved.matchedCount == 1 ? taken : nil
    }

    /// `order-confirmed`: the order's checked-out lines leave the cart. Returns `false` when there was nothing to do
    /// (already done, or no such checkout).
    func completeCheckout(userID: String, orderID: String) async throws -> Bool {
        let path = "checkouts.\(orderID)"
        let result = try await self.carts.updateOne(
            ["_id": .string(userID), path: ["$exists": true]],
            ["$unset": [path: ""], "$set": ["updatedAt": .int(Date().epochMilliseconds)], "$inc": ["version": 1]]
        )
        return result.matchedCount > 0
    }

    /// `order-failed`, `order-cancelled`, `order-rejected`: the order's checked-out lines go back into the cart,
    /// added to what the customer put there since (same product: the quantities add up). One update conditioned on
    /// the checkout still being there, so it happens once. Returns `false` when there was nothing to do.
    func releaseCheckout(userID: String, orderID: String) async throws -> Bool {
        let path = "checkouts.\(orderID)"
        guard let cart = try await self.cart(userID: userID), let taken = cart.checkouts[orderID] else { return false }
        var increments: MongoDocument = ["version": 1]
        for (productID, item) in taken.items.sorted(by: { $0.key < $1.key }) {
            increments.append("items.\(productID).quantity", .int(item.quantity))
        }
        let result = try await self.carts.updateOne(
            ["_id": .string(userID), path: ["$exists": true]],
            [
                "$unset": [path: ""], "$inc": .document(increments),
                "$set": ["updatedAt": .int(Date().epochMilliseconds)],
            ]
        )
        return result.matchedCount > 0
    }

    /// `user-created`: gives the user an empty cart unless it has one or was deleted. Idempotent.
    /// Returns `false` when the user was deleted (nothing created).
    func createEmptyCart(userID: String) async throws -> Bool {
        guard try await !self.isDeleted(userID) else { return false }
        let now = Date().epochMilliseconds
        try await self.carts.updateOne(
            ["_id": .string(userID)],
            [
                "$setOnInsert": [
                    "items": .document([:]), "checkouts": .document([:]), "version": 0, "createdAt": .int(now),
                    "updatedAt": .int(now),
                ]
            ],
            upsert: true
        )
        return try await self.undoIfDeleted(userID)
    }

    /// `user-deleted`: records the deletion (so no cart is created for the user later) and deletes its cart. Idempotent.
    func deleteUser(userID: String) async throws {
        // Tombstone first, then the cart: a concurrent creation either sees the tombstone (and undoes itself) or
        // happened before the tombstone, and then before this delete.
        try await self.tombstones.updateOne(
            ["_id": .string(userID)],
            ["$setOnInsert": ["deletedAt": .int(Date().epochMilliseconds)]],
            upsert: true
        )
        try await self.carts.deleteOne(["_id": .string(userID)])
    }

    // MARK: - Creation under a tombstone

    private enum InsertOutcome {
        case inserted
        case alreadyExists
        case userDeleted
    }

    /// Inserts a new cart unless the user was deleted; re-checks the tombstone after the insert, so a deletion that
    /// raced with it never leaves an orphan cart.
    private func insertCart(_ cart: Cart) async throws -> InsertOutcome {
        guard try await !self.isDeleted(cart.id) else { return .userDeleted }
        do {
            try await self.carts.insert(cart)
        } catch let error as MongoStoreError where error.code == .duplicateKey {
            return .alreadyExists
        }
        return try await self.undoIfDeleted(cart.id) ? .inserted : .userDeleted
    }

    /// Deletes the user's cart again if the user has been deleted meanwhile. Returns `false` when it did.
    private func undoIfDeleted(_ userID: String) async throws -> Bool {
        guard try await self.isDeleted(userID) else { return true }
        try await self.carts.deleteOne(["_id": .string(userID)])
        return false
    }

    /// A read by `_id`, not a count: `countDocuments` is an aggregation, about three times the dev store's work.
    private func isDeleted(_ userID: String) async throws -> Bool {
        try await self.tombstones.findOne(["_id": .string(userID)]) != nil
    }
}

/// The result of ``CartRepository/add(userID:productID:quantity:limit:)``.
enum CartAddOutcome: Sendable, Equatable {
    /// Added; `quantity` is the product's quantity in the cart now.
    case added(quantity: Int)
    /// Not added: the resulting quantity would exceed the limit.
    case insufficientStock
    /// Not added: the user was deleted.
    case userDeleted
    /// Not added: other writes to the same cart kept getting in between; the caller may retry.
    case contended
}

/// The result of ``CartRepository/checkout(userID:orderID:)``.
enum CheckoutOutcome: Sendable, Equatable {
    /// The lines now held for the order: product id → quantity.
    case checkedOut([String: Int])
    /// Nothing left to check out, and the lines were checked out for `orderID`, which is still pending.
    case inProgress(orderID: String)
    /// No cart, or nothing in it.
    case empty
    /// Other writes to the same cart kept getting in between; the caller may retry.
    case contended
}

/// The result of ``CartRepository/setQuantity(userID:productID:quantity:)``.
enum CartSetOutcome: Sendable, Equatable {
    case set
    /// Not set: the user was deleted.
    case userDeleted
    /// Not set: other writes to the same cart kept getting in between; the caller may retry.
    case contended
}

/// The result of ``CartRepository/removeItem(userID:productID:)``.
enum CartRemoveOutcome: Sendable, Equatable {
    case removed
    /// The cart exists but does not hold the product.
    case itemNotFound
    /// The user has no cart.
    case cartNotFound
}
