import Foundation
import MongoStore

/// A user's cart as stored in `CartService.carts`: one document per user, keyed by the user's id, so there can be no
/// duplicate carts. Items are a map keyed by product id (`items.<productId>.quantity`), which lets every change be a
/// single atomic update on a path (the dev store has no positional array updates; dev-store.md gap 4).
struct Cart: Codable, Sendable, Equatable {
    /// One product's line in the cart.
    struct Item: Codable, Sendable, Equatable {
        var quantity: Int
    }

    /// Lines taken by `POST /order` under an order id, until the order's fate is known (`order-events`): confirmed →
    /// they leave the cart; failed, cancelled or rejected → they go back into ``items``.
    struct Checkout: Codable, Sendable, Equatable {
        /// Product id → line, as they were in ``Cart/items`` when checked out.
        var items: [String: Item]
        /// Epoch milliseconds of the checkout.
        var at: Int64
    }

    /// The user's id: 24 lower-case hex digits (a string, not an ObjectId; dev-store.md gap 1 only concerns other
    /// fields, but the string keeps the document's key identical to the user id everywhere).
    var id: String
    /// Product id (24 lower-case hex digits) → line.
    var items: [String: Item]
    /// Order id → the lines checked out for it (not shown by `GET /user/{userId}`, not orderable again).
    var checkouts: [String: Checkout]
    /// Incremented by every change, so a checkout can move exactly the lines it read (optimistic concurrency).
    var version: Int64
    /// Epoch milliseconds of creation, when known.
    var createdAt: Int64?
    /// Epoch milliseconds of the last change, when known.
    var updatedAt: Int64?

    init(id: String, items: [String: Item] = [:], createdAt: Int64? = nil, updatedAt: Int64? = nil) {
        self.id = id
        self.items = items
        self.checkouts = [:]
        self.version = 0
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case items
        case checkouts
        case version
        case createdAt
        case updatedAt
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(String.self, forKey: .id)
        self.items = try container.decodeIfPresent([String: Item].self, forKey: .items) ?? [:]
        self.checkouts = try container.decodeIfPresent([String: Checkout].self, forKey: .checkouts) ?? [:]
        self.version = try container.decodeIfPresent(Int64.self, forKey: .version) ?? 0
        self.createdAt = try container.decodeIfPresent(Int64.self, forKey: .createdAt)
        self.updatedAt = try container.decodeIfPresent(Int64.self, forKey: .updatedAt)
    }

}
