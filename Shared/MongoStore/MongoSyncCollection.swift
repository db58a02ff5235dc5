import Foundation

/// The synchronous operations on one collection, bound to the connection of the job that runs them.
///
/// You meet it inside ``MongoStore/withTransaction(_:)``: `transaction.collection("users", as: User.self)`.
/// It is not `Sendable` and must not leave that closure. ``MongoCollection`` runs these same operations,
/// one job each, so both forms behave identically. Every call blocks on the network: it is only ever reached from
/// a job on the store's own thread pool.
package struct MongoSyncCollection<Document: Codable> {
    let connection: MongocConnection
    /// The collection name. Use plural names: the dev store rejects SQL keywords such as `order` (gap 2).
    package let name: String

    /// Inserts one document.
    /// - Throws: ``MongoStoreError/Code/duplicateKey`` when a unique index already has its key.
    package func insert(_ document: Document) throws {
        try self.connection.insertOne(into: self.name, document: try MongoDocument(encoding: document))
    }

    /// Inserts several documents in one ordered batch: the batch stops at the first failure.
    package func insert(_ documents: [Document]) throws {
        guard !documents.isEmpty else { return }
        let encoded = try documents.map { try MongoDocument(encoding: $0) }
        try self.connection.insertMany(into: self.name, documents: encoded)
    }

    /// The documents matching `filter`, in `sort` order, after skipping `skip` and at most `limit` of them.
    /// With a `projection`, `Document` must decode from the projected fields.
    package func find(
        _ filter: MongoDocument = [:],
        sort: MongoDocument? = nil,
        skip: Int? = nil,
        limit: Int? = nil,
        projection: MongoDocument? = nil
    ) throws -> [Document] {
        var options = MongoDocument()
        if let sort { options.append("sort", .document(sort)) }
        if let skip { options.append("skip", .int(skip)) }
        if let limit { options.append("limit", .int(limit)) }
        if let projection { options.append("projection", .document(projection)) }
        return try self.connection.find(Document.self, in: self.name, filter: filter, options: options)
    }

    /// The first document matching `filter` (in `sort` order), or `nil`.
    package func findOne(_ filter: MongoDocument, sort: MongoDocument? = nil) throws -> Document? {
        try self.find(filter, sort: sort, limit: 1).first
    }

    /// How many documents match `filter`.
    package func count(_ filter: MongoDocument = [:]) throws -> Int {
        try self.connection.count(in: self.name, filter: filter)
    }

    /// Applies `update` (operators such as `$set`, `$inc`) to the first document matching `filter`; with `upsert`,
    /// inserts one built from the filter's equalities and `$setOnInsert` when none matches.
    package func updateOne(
        _ filter: MongoDocument,
        _ update: MongoDocument,
        upsert: Bool = false
    ) throws
        -> MongoUpdateResult
    {
        try self.connection.update(in: self.name, filter: filter, update: update, upsert: upsert, many: false)
    }

    /// Applies `update` to every document matching `filter`.
    package func updateMany(
        _ filter: MongoDocument,
        _ update: MongoDocument,
        upsert: Bool = false
    ) throws
        -> MongoUpdateResult
    {
        try self.connection.update(in: self.name, filter: filter, update: update, upsert: upsert, many: true)
    }

    /// Replaces the first document matching `filter` with `replacement` (keeping its `_id`).
    /// With a version field in the filter, this is the portable way to change an array (dev-store.md gaps 4, 5, 8).
    package func replaceOne(
        _ filter: MongoDocument,
        with replacement: Document,
        upsert: Bool = false
    ) throws
        -> MongoUpdateResult
    {
        try self.connection.replaceOne(
            in: self.name,
            filter: filter,
            replacement: try MongoDocument(encoding: replacement),
            upsert: upsert
        )
    }

    /// Atomically updates the first document matching `filter` (in `sort` order) and returns it as it was
    /// `before` or is `after` the update; `nil` when nothing matches. A conditional filter
    /// (`["available": ["$gte": 1]]`) makes this a compare-and-set.
    ///
    /// No `upsert` here: the dev store drops `$setOnInsert` fields on this path (dev-store.md gap 6); use
    /// ``updateOne(_:_:upsert:)`` with `upsert: true`, then read.
    package func findOneAndUpdate(
        _ filter: MongoDocument,
        _ update: MongoDocument,
        sort: MongoDocument? = nil,
        returning: MongoReturnDocument = .after
    ) throws -> Document? {
        try self.connection.findOneAndUpdate(
            Document.self,
            in: self.name,
            filter: filter,
            update: update,
            sort: sort,
            returnNew: returning == .after
        )
    }

    /// Deletes the first document matching `filter`; returns how many were deleted (0 or 1).
    @discardableResult
    package func deleteOne(_ filter: MongoDocument) throws -> Int {
        try self.connection.delete(in: self.name, filter: filter, many: false)
    }

    /// Deletes every document matching `filter`; returns how many were deleted.
    @discardableResult
    package func deleteMany(_ filter: MongoDocument) throws -> Int {
        try self.connection.delete(in: self.name, filter: filter, many: true)
    }

    /// Creates the indexes that do not exist yet. Call it at startup, before any transaction touches the
    /// collection (dev-store.md gap 7).
    package func createIndexes(_ indexes: [MongoIndex]) throws {
        try self.connection.writeCommand(
            on: self.name,
            ["createIndexes": .string(self.name), "indexes": .array(indexes.map(\.specification))]
        )
    }
}
