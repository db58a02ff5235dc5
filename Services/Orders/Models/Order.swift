import Foundation
import MongoStore
import StorefrontContracts

/// The order states. `pending → confirmed | failed | cancelled`, `confirmed → shipped | refunded | failed` (stock lost
/// after payment; refunded), `shipped → delivered`, `cancelled → refunded`. Every transition is a conditional update
/// on `status`, so a late or replayed event never moves a state backwards, and each state is entered at most once.
enum OrderStatus: String, Codable, Sendable, CaseIterable {
    case pending, confirmed, failed, cancelled, refunded, shipped, delivered

    /// The `order-events` type that announces entering this state.
    var event: OrderEvent.Kind {
        switch self {
        case .pending: .placed
        case .confirmed: .confirmed
        case .failed: .failed
        case .cancelled: .cancelled
        case .refunded: .refunded
        case .shipped: .shipped
        case .delivered: .delivered
        }
    }
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
    /// Set when it ships (`POST /order/{id}/ship`).
    var carrier: String?
    var trackingNumber: String?
    /// Epoch milliseconds of shipping and delivery.
    var shippedAtMs: Int64?
    var deliveredAtMs: Int64?

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case userId, products, address, status, createdAt, total, reservationId, totalCents, createdAtMs, updatedAt
        case failureReason, carrier, trackingNumber, shippedAtMs, deliveredAtMs
    }

    /// The `order-events` event announcing that the order entered its current status.
    var event: OrderEvent {
        OrderEvent(
            self.status.event,
            orderId: self.id.hex,
            userId: self.userId,
            products: self.products.map { .init(productId: $0.productId, quantity: $0.quantity, price: $0.price) },
            total: self.total,
            status: self.status.rawValue,
            reason: self.status == .failed ? self.failureReason : nil,
            carrier: self.carrier,
            trackingNumber: self.trackingNumber
        )
    }
}

/// A `POST /order` in progress (`OrderService.placements`, `_id` = the chosen order id): written before the cart is
/// checked out and removed in the transaction that stores the order, or in the one that rejects the checkout. One that
/// stays behind belongs to a request that died; the sweeper rejects it, and its `order-rejected` event releases the
/// checkout (cart) and any stock reserved for the order (inventory releases by order id).
struct Placement: Codable, Sendable, Equatable {
    var id: String
    var userId: String
    /// Epoch milliseconds.
    var createdAt: Int64

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case userId, createdAt
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
