import Foundation
import MongoStore

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
struct ProductRepository: Sendable {
    static let collectionName = "products"

    let store: MongoStore

    private var products: MongoCollection<Product> { self.store.collection(Self.collectionName, as: Product.self) }

    /// Creates the indexes that serve the list's filters and orders. Call at startup.
    func prepare() async throws {
        try await self.products.createIndexes([
            MongoIndex(keys: ["category": 1, "price": 1]),
            MongoIndex(keys: ["createdAt": -1]),
            MongoIndex(keys: ["name": 1]),
            MongoIndex(keys: ["price": 1]),
        ])
    }

    func insert(_ product: Product) async throws {
        try await self.products.insert(product)
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
    /// Why `$expr`/`$regexMatch` and not `{name: {$regex: …, $options: "i"}}`: our store bridge parses filters with
    /// libbson's JSON reader, which turns any `{"$regex": …}` object into a BSON regular expression, and the dev store
    /// cannot bind those (a top-level one fails with server code 17, one inside `$or` matches nothing). `$regexMatch`
    /// (MongoDB 4.2+) takes its pattern as a plain string and behaves the same on both stores; a case-insensitive
    /// substring match cannot use an index on either, so nothing is lost.
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

    /// Applies `changes` (refreshing `updatedAt`) and returns the product after it; `nil` when none has that id.
    func update(id: MongoObjectID, _ changes: ProductChanges) async throws -> Product? {
        var set = MongoDocument()
        if let name = changes.name { set.append("name", .string(name)) }
        if let description = changes.description { set.append("description", .string(description)) }
        if let category = changes.category { set.append("category", .string(category)) }
        if let price = changes.price { set.append("price", .double(price)) }
        // updatedAt through $currentDate: a $set of a date is stored as a string on the dev store (gap 3).
        var update: MongoDocument = ["$currentDate": ["updatedAt": true]]
        if !set.isEmpty { update.append("$set", .document(set)) }
        guard try await self.products.updateOne(["_id": .objectID(id)], update).matchedCount == 1 else { return nil }
        return try await self.find(id: id)
    }

    /// Whether a product was deleted.
    func delete(id: MongoObjectID) async throws -> Bool {
        try await self.products.deleteOne(["_id": .objectID(id)]) == 1
    }
}
