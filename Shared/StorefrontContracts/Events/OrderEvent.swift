package import Foundation
import ServiceKit

/// `order-events`: an order's life, one event per state it enters (order service → cart, inventory, notification).
/// Key: `orderId`, so one order's events stay in order on one partition. Written through the order service's outbox in
/// the same transaction as the state change, with the event id `order-<orderId>-<type>`: a state is entered at most
/// once, so each event exists once however often it is redelivered.
///
/// Every event carries the order as it is after the change: `orderId`, `userId`, the lines (`products`, the order
/// JSON's key) and the `total`; shipping events add `carrier` and `trackingNumber`, failures `reason`.
///
/// Read leniently: an event without a 24-hex `orderId` and a known `type` is skipped by consumers.
package struct OrderEvent: StorefrontEvent, Equatable {
    package static let schemaVersion = 1

    /// The event types, one per order state, plus `order-rejected`.
    package enum Kind: String, Sendable, CaseIterable {
        /// `POST /order` stored the order (`pending`) and is charging it; its cart lines are checked out.
        case placed = "order-placed"
        /// Paid: the checked-out lines leave the cart.
        case confirmed = "order-confirmed"
        /// Payment declined or unknown, or stock lost after payment: the checkout and the held stock are released.
        case failed = "order-failed"
        /// Cancelled while pending: the checkout and the held stock are released.
        case cancelled = "order-cancelled"
        /// A confirmed (or cancelled and charged) order's payment was given back.
        case refunded = "order-refunded"
        /// Handed to a carrier (`carrier`, `trackingNumber`).
        case shipped = "order-shipped"
        /// At the customer's door.
        case delivered = "order-delivered"
        /// `POST /order` checked the cart out under this order id but answered an error before any order was stored
        /// (stock, price, a peer or the store unavailable, or the request died): no order exists; the checkout and any
        /// stock reserved for it are released. Customers are not notified (they got the error).
        case rejected = "order-rejected"

        /// Whether the order ended without a sale: its checked-out lines go back to the cart, and the stock held for
        /// it back on sale.
        package var endsWithoutSale: Bool { [.failed, .cancelled, .rejected].contains(self) }
    }

    /// One line of the order: the product, how many, and the unit price charged.
    package struct Line: Codable, Sendable, Equatable {
        package var productId: String
        package var quantity: Int
        package var price: Double

        package init(productId: String, quantity: Int, price: Double) {
            self.productId = productId
            self.quantity = quantity
            self.price = price
        }
    }

    package var eventId: String?
    /// A ``Kind`` raw value.
    package var type: String?
    package var occurredAt: Date?
    package var orderId: String?
    package var userId: String?
    package var products: [Line]
    package var total: Double?
    /// The order's status after the change (`pending`, `confirmed`, …; absent for `order-rejected`).
    package var status: String?
    /// Why it failed or was rejected.
    package var reason: String?
    package var carrier: String?
    package var trackingNumber: String?

    package var key: String { self.orderId ?? "" }
    package var kind: Kind? { self.type.flatMap(Kind.init(rawValue:)) }

    /// The event of `kind` for order `orderId`, with the event id `order-<orderId>-<kind>`.
    package init(
        _ kind: Kind,
        orderId: String,
        userId: String,
        products: [Line],
        total: Double,
        status: String?,
        reason: String? = nil,
        carrier: String? = nil,
        trackingNumber: String? = nil,
        occurredAt: Date = Date()
    ) {
        self.eventId = "order-\(orderId)-\(kind.rawValue)"
        self.type = kind.rawValue
        self.occurredAt = occurredAt
        self.orderId = orderId
        self.userId = userId
        self.products = products
        self.total = total
        self.status = status
        self.reason = reason
        self.carrier = carrier
        self.trackingNumber = trackingNumber
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.eventId = container.lenient(String.self, forKey: .eventId)
        self.type = container.lenient(String.self, forKey: .type)
        self.occurredAt = container.lenient(Date.self, forKey: .occurredAt)
        self.orderId = container.lenient(String.self, forKey: .orderId)
        self.userId = container.lenient(String.self, forKey: .userId)
        self.products = container.lenient([Line].self, forKey: .products) ?? []
        self.total = container.lenient(Double.self, forKey: .total)
        self.status = container.lenient(String.self, forKey: .status)
        self.reason = container.lenient(String.self, forKey: .reason)
        self.carrier = container.lenient(String.self, forKey: .carrier)
        self.trackingNumber = container.lenient(String.self, forKey: .trackingNumber)
    }
}
