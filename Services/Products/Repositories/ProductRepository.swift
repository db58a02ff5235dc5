import Foundation
import MongoStore
import ServiceKit
import StorefrontContracts

/// The fields an update may change, already validated.
struct ProductChanges: Sendable, Equatable {
    var name: String?
    var description: String?
    var category: String?
    var price: Double?

    var isEmpty: Bool { self == ProductChanges() }
}

/// A validated `GET /get` query: filters, order and page.
struct ProductQuery: Sendable, Equatable {
    enum Sort: String, Sendable, CaseIterable {
        case price = "price"
        case priceDescending = "-price"
        case name = "name"
        case newestFirst = "-createdAt"
    }

    /// Case-insensitive substring of `name` or `description` (matched literally, never as a pattern).
    var text: String?
    var category: String?
    var minPrice: Double?
    var maxPrice: Double?
    var sort: Sort = .newestFirst
    var limit: Int = 50
    var offset: Int = 0
}

/// Where products live: collection `products` of the service's database, as the original.
///
/// Every write is a transaction that also appends its `product-events` event to the outbox (so the catalog views of
/// every product instance learn about it exactly when it committed), then wakes the relay.
struct ProductRepository: Sendable {
    static let collectionName = "products"

    let store: MongoStore
    /// Publishes the outbox; woken after each write.
    let relay: OutboxRelay

    private var products: MongoCollection<Product> { self.store.collection(Self.collectionName, as: Product.self) }

    /// Creates the indexes that serve the list's filters and orders, and the outbox. Call at startup.
    func prepare() async throws {
        try await self.products.createIndexes([
            MongoIndex(keys: ["category": 1, "price": 1]),
            MongoIndex(keys: ["createdAt": -1]),
            MongoIndex(keys: ["name": 1]),
            MongoIndex(keys: ["price": 1]),
        ])
        try await Outbox.prepare(self.store)
    }

    /// Inserts `product` (its `version` is 1) with its `product-created` event.
    func insert(_ product: Product) async throws {
        let origin = EventOrigin.current
        let event = ProductEvent(
            .created,
            productId: product.id.hex,
            version: product.version,
            product: product.snapshot
        )
        do {
            try await self.store.withTransaction { transaction in
                try transaction.collection(Self.collectionName, as: Product.self).insert(product)
                try Outbox.append(event, to: Topics.productEvents, origin: origin, in: transaction)
            }
        } catch let error as MongoStoreError where error.code == .server || error.code == .writeConflict {
            guard try await self.find(id: product.id) != nil else { throw error }  // gap 13: it did commit
        }
        self.relay.notify()
    }

    func find(id: MongoObjectID) async throws -> Product? {
        try await self.products.findOne(["_id": .objectID(id)])
    }

    func list(_ query: ProductQuery) async throws -> [Product] {
        try await self.products.find(
            Self.filter(query),
            sort: Self.sort(query.sort),
            skip: query.offset,
            limit: query.limit
        )
    }

    /// The filter of `query`: equality on `category`, a range on `price`, and for the text a case-insensitive
    /// `$regexMatch` of the escaped text (so `.`, `+`, `(` match themselves) on `name` or `description`.
    ///
    /// `$expr`/`$regexMatch` (MongoDB 4.2+) takes its pattern as a plain string and behaves the same on both stores,
    /// also inside `$or` (a BSON regular expression does not on the dev store: dev-store-gaps.md, gap 15); a
    /// case-insensitive substring match cannot use an index on either, so nothing is lost.
    static func filter(_ query: ProductQuery) -> MongoDocument {
        var filter = MongoDocument()
        if let category = query.category { filter.append("category", .string(category)) }
        if query.minPrice != nil || query.maxPrice != nil {
            var range = MongoDocument()
            if let minPrice = query.minPrice { range.append("$gte", .double(minPrice)) }
            if let maxPrice = query.maxPrice { range.append("$lte", .double(maxPrice)) }
            filter.append("price", .document(range))
        }
        if let text = query.text {
            let pattern = MongoValue.string(Self.escapeRegex(text))
            // Inside `$and`, so the `$or` can never escape the other conditions (docs/dev-store-gaps.md, gap 16).
            filter.append(
                "$and",
                [
                    [
                        "$or": [
                            ["$expr": ["$regexMatch": ["input": "$name", "regex": pattern, "options": "i"]]],
                            ["$expr": ["$regexMatch": ["input": "$description", "regex": pattern, "options": "i"]]],
                        ]
                    ]
                ]
            )
        }
        return filter
    }

    /// Every order ends with `_id`, so equal keys still give one stable order (and pages never overlap).
    static func sort(_ sort: ProductQuery.Sort) -> MongoDocument {
        switch sort {
        case .price: ["price": 1, "_id": 1]
        case .priceDescending: ["price": -1, "_id": 1]
        case .name: ["name": 1, "_id": 1]
        case .newestFirst: ["createdAt": -1, "_id": -1]
        }
    }

    /// `text` with every regular-expression metacharacter escaped (PCRE and Python `re` read these the same way).
    static func escapeRegex(_ text: String) -> String {
        let special = Set("\\^$.|?*+()[]{}")
        var escaped = ""
        for character in text {
            if special.contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }

    /// Applies `changes` (refreshing `updatedAt`, raising `version`) with its `product-updated` event, and returns the
    /// product after it; `nil` when none has that id.
    func update(id: MongoObjectID, _ changes: ProductChanges) async throws -> Product? {
        var set = MongoDocument()
        if let name = changes.name { set.append("name", .string(name)) }
        if let description = changes.description { set.append("description", .string(description)) }
        if let category = changes.category { set.append("category", .string(category)) }
        if let price = changes.price { set.append("price", .double(price)) }
        // updatedAt through $currentDate: a $set of a date is stored as a string on the dev store (gap 3).
        var update: MongoDocument = ["$currentDate": ["updatedAt": true], "$inc": ["version": 1]]
        if !set.isEmpty { update.append("$set", .document(set)) }
        let origin = EventOrigin.current
        let updated: Product? = try await self.store.withTransaction { [update] transaction in
            let products = transaction.collection(Self.collectionName, as: Product.self)
            guard try products.updateOne(["_id": .objectID(id)], update).matchedCount == 1,
                let product = try products.findOne(["_id": .objectID(id)])
            else { return nil }
            let event = ProductEvent(.updated, productId: id.hex, version: product.version, product: product.snapshot)
            try Outbox.append(event, to: Topics.productEvents, origin: origin, in: transaction)
            return product
        }
        self.relay.notify()
        return updated
    }

    /// Deletes the product with its `product-deleted` event (version: the last one + 1).
    /// - Returns: the deleted product's version + 1 (0 when a failed-looking transaction did commit: unknown), or `nil`
    ///   when there was no such product.
    func delete(id: MongoObjectID) async throws -> Int64? {
        let origin = EventOrigin.current
        let deleted: Int64?
        do {
            deleted = try await self.store.withTransaction { transaction in
                let products = transaction.collection(Self.collectionName, as: Product.self)
                guard let product = try products.findOne(["_id": .objectID(id)]),
                    try products.deleteOne(["_id": .objectID(id)]) == 1
                else { return nil }
                let event = ProductEvent(.deleted, productId: id.hex, version: product.version + 1, product: nil)
                try Outbox.append(event, to: Topics.productEvents, origin: origin, in: transaction)
                return product.version + 1
            }
        } catch let error as MongoStoreError where error.code == .server || error.code == .writeConflict {
            guard try await self.find(id: id) == nil else { throw error }  // gap 13: it did commit
            deleted = 0
        }
        self.relay.notify()
        return deleted
    }
}
