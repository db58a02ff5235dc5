package import Foundation
package import ServiceKit

/// `product-events`: a product was created, changed or deleted (product service → every product instance's catalog
/// view). Written through the product service's outbox in the transaction of the change. Key: `productId`.
///
/// `version` is the product document's own counter (1 at creation, +1 per change, the last one +1 for a delete), so
/// a reader keeps whichever state has the higher version however events, fills and its own writes interleave.
package struct ProductEvent: StorefrontEvent, Equatable {
    package static let schemaVersion = 1

    /// The event types on this topic.
    package enum Kind: String, Sendable {
        case created = "product-created"
        case updated = "product-updated"
        case deleted = "product-deleted"
    }

    /// The product as clients see it (`GET /get/{id}`'s `product`), after the change.
    package struct Snapshot: Codable, Sendable, Equatable {
        package var id: String
        package var name: String
        package var description: String
        package var category: String
        package var price: Double
        package var createdAt: Date
        package var updatedAt: Date

        package init(
            id: String,
            name: String,
            description: String,
            category: String,
            price: Double,
            createdAt: Date,
            updatedAt: Date
        ) {
            self.id = id
            self.name = name
            self.description = description
            self.category = category
            self.price = price
            self.createdAt = createdAt
            self.updatedAt = updatedAt
        }

        enum CodingKeys: String, CodingKey {
            case id = "_id"
            case name, description, category, price, createdAt, updatedAt
        }
    }

    /// A ``Kind`` raw value.
    package var type: String?
    package var eventId: String?
    package var productId: String
    package var version: Int64
    /// The product after the change; `nil` for `product-deleted`.
    package var product: Snapshot?
    package var occurredAt: Date?

    package var key: String { self.productId }
    package var kind: Kind? { self.type.flatMap(Kind.init(rawValue:)) }

    /// A `product-created` or `product-updated` event (with `product`), or `product-deleted` (without), with the
    /// event id `<productId>-<version>` (one per version, however often it is written).
    package init(_ kind: Kind, productId: String, version: Int64, product: Snapshot?, occurredAt: Date = Date()) {
        self.type = kind.rawValue
        self.eventId = "product-\(productId)-\(version)"
        self.productId = productId
        self.version = version
        self.product = product
        self.occurredAt = occurredAt
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.productId = try container.decode(String.self, forKey: .productId)
        self.version = try container.decode(Int64.self, forKey: .version)
        self.product = try container.decodeIfPresent(Snapshot.self, forKey: .product)
        self.type = container.lenient(String.self, forKey: .type)
        self.eventId = container.lenient(String.self, forKey: .eventId)
        self.occurredAt = container.lenient(Date.self, forKey: .occurredAt)
    }
}

/// `stock-levels`: the current state of one product's stock record (inventory service → every product instance's
/// catalog view). Key: `productId`; in production a compacted topic, since only the latest state per key matters.
///
/// Not written through an outbox: the stock record is its own outbox (every change raises its `version` and marks it
/// pending in the same single-document update; the inventory service's stock publisher publishes pending records and
/// clears the mark if the version is unchanged). So delivery is at least once, and a reader keeps the highest
/// `version` it has seen.
package struct StockLevelEvent: StorefrontEvent, Equatable {
    package static let schemaVersion = 1
    package static let typeName = "stock-level"
    /// The HTTP response header of the inventory service's `GET /get/{productId}` carrying the record's version, so a
    /// reader that fills its view over HTTP can order that answer against these events.
    package static let versionHeader = "stock-version"

    /// Always ``typeName``.
    package var type: String?
    package var eventId: String?
    package var productId: String
    package var version: Int64
    /// The stock record exactly as the inventory service's `GET /get/{productId}` answers it; `nil` when the record
    /// was deleted (a tombstone).
    package var record: JSONValue?
    package var occurredAt: Date?

    package var key: String { self.productId }

    /// The state `record` (or, with `nil`, the deletion) of `productId`'s stock at `version`, with the event id
    /// `stock-<productId>-<version>`.
    package init(productId: String, version: Int64, record: JSONValue?, occurredAt: Date = Date()) {
        self.type = Self.typeName
        self.eventId = "stock-\(productId)-\(version)"
        self.productId = productId
        self.version = version
        self.record = record
        self.occurredAt = occurredAt
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.productId = try container.decode(String.self, forKey: .productId)
        self.version = try container.decode(Int64.self, forKey: .version)
        self.record = try container.decodeIfPresent(JSONValue.self, forKey: .record)
        self.type = container.lenient(String.self, forKey: .type)
        self.eventId = container.lenient(String.self, forKey: .eventId)
        self.occurredAt = container.lenient(Date.self, forKey: .occurredAt)
    }
}
