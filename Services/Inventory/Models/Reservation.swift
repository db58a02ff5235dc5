/// A stock reservation for one order, as stored in `InventoryService.reservations` (`_id` = reservation id, unique
/// index on `orderId`).
///
/// `status` is the business state (`PENDING → COMMITTED | CANCELLED | EXPIRED`, and `COMMITTED → CANCELLED` when the
/// order is withdrawn after payment); `stock` is the stock movement that state requires and how far it got:
/// `reserving` (holding items) → `held`; then `selling` → `sold`, or `releasing` → `released`; `reselling` while a
/// late payment success tries to sell the items of an expired or cancelled reservation again; `returning` while the
/// sold units of a withdrawn order go back on sale (→ `released`). `outcome` is `lost` once a late success could not
/// be served, `late-commit` once it was, and `withdrawn` once the order gave up (no later success sells it again).
struct Reservation: Codable, Sendable, Equatable {
    struct Item: Codable, Sendable, Equatable {
        var productId: String
        var quantity: Int
    }

    enum Status: String, Codable, Sendable, CaseIterable {
        case pending = "PENDING"
        case committed = "COMMITTED"
        case cancelled = "CANCELLED"
        case expired = "EXPIRED"
    }

    enum Stock: String, Codable, Sendable {
        case reserving, held, selling, sold, releasing, released, reselling, returning
    }

    var id: String
    var orderId: String
    var status: Status
    var stock: Stock
    var items: [Item]
    /// Epoch milliseconds.
    var expiresAt: Int64
    var createdAt: Int64
    var updatedAt: Int64
    var outcome: String?

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case orderId, status, stock, items, expiresAt, createdAt, updatedAt, outcome
    }
}
