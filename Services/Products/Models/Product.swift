import Foundation
import MongoStore
import StorefrontContracts

/// A stored product (`ProductService.products`), with the original's field names and types: `price` a double,
/// camelCase `createdAt`/`updatedAt` (BSON dates, set by the server only), plus `version`: 1 at creation, raised by
/// every change, carried by the `product-events` events so that catalog views keep the newest state.
struct Product: Codable, Sendable, Equatable {
    var id: MongoObjectID
    var name: String
    var description: String
    var category: String
    var price: Double
    var createdAt: Date
    var updatedAt: Date
    /// 0 in documents written before versions existed (the original's).
    var version: Int64

    init(
        id: MongoObjectID = MongoObjectID(),
        name: String,
        description: String,
        category: String,
        price: Double,
        createdAt: Date,
        updatedAt: Date,
        version: Int64 = 1
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.category = category
        self.price = price
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.version = version
    }

    /// Lenient where the original's documents may lack a field (no description; no dates, which the original never
    /// set unless the client sent them).
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(MongoObjectID.self, forKey: .id)
        self.name = try container.decode(String.self, forKey: .name)
        self.description = try container.decodeIfPresent(String.self, forKey: .description) ?? ""
        self.category = try container.decode(String.self, forKey: .category)
        self.price = try container.decode(Double.self, forKey: .price)
        let zero = Date(timeIntervalSince1970: -62_135_596_800)  // Go's zero time, 0001-01-01T00:00:00Z
        self.createdAt = try container.decodeIfPresent(Date.self, forKey: .createdAt) ?? zero
        self.updatedAt = try container.decodeIfPresent(Date.self, forKey: .updatedAt) ?? self.createdAt
        self.version = try container.decodeIfPresent(Int64.self, forKey: .version) ?? 0
    }

    /// The product as `product-events` carry it (and clients see it).
    var snapshot: ProductEvent.Snapshot {
        ProductEvent.Snapshot(
            id: self.id.hex,
            name: self.name,
            description: self.description,
            category: self.category,
            price: self.price,
            createdAt: self.createdAt,
            updatedAt: self.updatedAt
        )
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case name, description, category, price, createdAt, updatedAt, version
    }
}
