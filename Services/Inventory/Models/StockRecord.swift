import Foundation
import MongoStore
import ServiceKit

/// One product's stock as stored in `InventoryService.inventory` (unique index on `productId`).
///
/// `inventory` is what can still be sold, `reserved` is held by PENDING reservations, `sold` left with committed
/// orders, `received` is everything ever put in (creation plus admin adjustments). After every operation
/// `inventory + reserved + sold == received`. `movements` maps a reservation id to the stage its units are at in this
/// record (`held`, `released`, `sold`, `void`), which makes every per-item stock movement a conditional, idempotent
/// single-document update (see ``StockLedger``).
///
/// The record is also its own outbox for `stock-levels`: every change raises `version` and sets `stockPending` to 1
/// in the same update, and ``StockPublisher`` publishes pending records and resets the mark when the version is
/// unchanged (an integer, not a boolean: the dev store stores a `$set` boolean as 1/0, dev-store-gaps.md gap 9).
struct StockRecord: Codable, Sendable, Equatable {
    /// A 24-hex string (a fresh ObjectId's hex; stored as a string, dev-store.md gap 1).
    var id: String
    var productId: String
    var inventory: Int
    var reserved: Int
    var sold: Int
    var received: Int
    var movements: [String: String]
    /// Epoch milliseconds.
    var createdAt: Int64
    var updatedAt: Int64
    /// Raised by every change (0 in records written before it existed).
    var version: Int64
    /// 1 while the state at `version` may not have been published on `stock-levels` yet, else 0.
    var stockPending: Int

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case productId, inventory, reserved, sold, received, movements, createdAt, updatedAt, version, stockPending
    }

    init(id: String, productId: String, inventory: Int, now: Int64) {
        self.id = id
        self.productId = productId
        self.inventory = inventory
        self.reserved = 0
        self.sold = 0
        self.received = inventory
        self.movements = [:]
        self.createdAt = now
        self.updatedAt = now
        self.version = 1
        self.stockPending = 1
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(String.self, forKey: .id)
        self.productId = try container.decode(String.self, forKey: .productId)
        self.inventory = try container.decode(Int.self, forKey: .inventory)
        self.reserved = try container.decodeIfPresent(Int.self, forKey: .reserved) ?? 0
        self.sold = try container.decodeIfPresent(Int.self, forKey: .sold) ?? 0
        self.received = try container.decodeIfPresent(Int.self, forKey: .received) ?? self.inventory
        self.movements = try container.decodeIfPresent([String: String].self, forKey: .movements) ?? [:]
        self.createdAt = try container.decodeIfPresent(Int64.self, forKey: .createdAt) ?? 0
        self.updatedAt = try container.decodeIfPresent(Int64.self, forKey: .updatedAt) ?? self.createdAt
        self.version = try container.decodeIfPresent(Int64.self, forKey: .version) ?? 0
        self.stockPending = try container.decodeIfPresent(Int.self, forKey: .stockPending) ?? 0
    }

    /// Physically present: available plus reserved.
    var onHand: Int { self.inventory + self.reserved }
}

/// RFC 3339 with milliseconds, UTC (the platform's JSON date format).
func rfc3339(_ millis: Int64) -> String {
    StorefrontJSON.format(Date(timeIntervalSince1970: Double(millis) / 1000))
}
