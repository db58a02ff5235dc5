import Foundation
import MongoStore

/// The order states. `pending → confirmed | failed | cancelled`, `confirmed → refunded | failed` (stock lost after
/// payment; refunded), `cancelled → refunded`. Every transition is a conditional update on `status`, so a late or
/// replayed event never moves a final state backwards.
enum OrderStatus: String, Codable, Sendable, CaseIterable {
    case pending, confirmed, failed, cancelled, refunded
}

/// One line of an order: the product, how many, and the unit price the product service gave when it was placed.
struct OrderLine: Codable, Sendable, Equatable {
    var productId: String
    var quantity: Int
    var price: Double
}

/// A stored order (`OrderService.orders`, `_id` an ObjectId; `userId` a hex string, dev-store gap 1). Times that
/// queries compare are Int64 epoch milliseconds; `createdAt` (a BSON date, written at insert only) keeps the original's
/// field.
struct Order: Codable, Sendable, Equatable {
    var id: MongoObjectID
    var userId: String
    var products: [OrderLine]
    var address: String
    var status: OrderStatus
    var createdAt: Date
    var total: Double
    var reservationId: String
    /// The total in cents (what was charged).
    var totalCents: Int64
    var createdAtMs: Int64
    var updatedAt: Int64
    var failureReason: String?

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case userId, products, address, status, createdAt, total, reservationId, totalCents, createdAtMs, updatedAt
        case failureReason
    }
}

/// A claimed `Idempotency-Key` (`OrderService.idempotencyKeys`, `_id` = SHA-256 of the caller and the key).
struct IdempotencyRecord: Codable, Sendable {
    var id: String
    /// SHA-256 of the caller and the canonical request body.
    var requestHash: String
    /// `processing` until the first request answered, then `done`.
    var state: String
    /// Random token of the request holding the claim (only it may complete or release it).
    var owner: String
    var orderId: String?
    var responseStatus: Int?
    var responseBody: String?
    var createdAt: Int64
    var expiresAt: Int64

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case requestHash, state, owner, orderId, responseStatus, responseBody, createdAt, expiresAt
    }
}
