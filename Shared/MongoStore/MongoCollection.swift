/// A collection of `Document`s in a ``MongoStore``'s database: the async API services use.
///
/// Each call runs as one job on the store's thread pool (never on an event loop or the cooperative pool) with a
/// connection taken from the pool for that job only; see ``MongoSyncCollection`` for what each operation does.
/// Thread-safe: a value type holding the store and a name.
package struct MongoCollection<Document: Codable & Sendable>: Sendable {
    package let store: MongoStore
    /// The collection name. Use plural names: the dev store rejects SQL keywords such as `order` (gap 2).
    package let name: String

    /// See ``MongoSyncCollection/insert(_:)-(Document)``.
    package func insert(_ document: Document) async throws {
        try await self.run { try $0.insert(document) }
    }

    /// See ``MongoSyncCollection/insert(_:)-([Document])``.
    package func insert(_ documents: [Document]) async throws {
        try await self.run { try $0.insert(documents) }
    }

    /// See ``MongoSyncCollection/find(_:sort:skip:limit:projection:)``.
    package func find(
        _ filter: MongoDocument = [:],
        sort: MongoDocument? = nil,
        skip: Int? = nil,
        limit: Int? = nil,
        projection: MongoDocument? = nil
    ) async throws -> [Document] {
        try await self.run { try $0.find(filter, sort: sort, skip: skip, limit: limit, projection: projection) }
    }

    /// See ``MongoSyncCollection/findOne(_:sort:)``.
    package func findOne(_ filter: MongoDocument, sort: MongoDocument? = nil) async throws -> Document? {
        try await self.run { try $0.findOne(filter, sort: sort) }
    }

    /// See ``MongoSyncCollection/count(_:)``.
    package func count(_ filter: MongoDocument = [:]) async throws -> Int {
        try await self.run { try $0.count(filter) }
    }

    /// See ``MongoSyncCollection/updateOne(_:_:upsert:)``.
    @discardableResult
    package func updateOne(
        _ filter: MongoDocument,
        _ update: MongoDocument,
        upsert: Bool = false
    ) async throws
        -> MongoUpdateResult
    {
        try await self.run { try $0.updateOne(filter, update, upsert: upsert) }
    }

    /// See ``MongoSyncCollection/updateMany(_:_:upsert:)``.
    @discardableResult
    package func updateMany(
        _ filter: MongoDocument,
        _ update: MongoDocument,
        upsert: Bool = false
    ) async throws
        -> MongoUpdateResult
    {
        try await self.run { try $0.updateMany(filter, update, upsert: upsert) }
    }

    /// See ``MongoSyncCollection/replaceOne(_:with:upsert:)``.
    @discardableResult
    package func replaceOne(
        _ filter: MongoDocument,
        with replacement: Document,
        upsert: Bool = false
    ) async throws
        -> MongoUpdateResult
    {
        try await self.run { try $0.replaceOne(filter, with: replacement, upsert: upsert) }
    }

    /// See ``MongoSyncCollection/findOneAndUpdate(_:_:sort:returning:)``.
    package func findOneAndUpdate(
        _ filter: MongoDocument,
        _ update: MongoDocument,
        sort: MongoDocument? = nil,
        returning: MongoReturnDocument = .after
    ) async throws -> Document? {
        try await self.run { try $0.findOneAndUpdate(filter, update, sort: sort, returning: returning) }
    }

    /// See ``MongoSyncCollection/deleteOne(_:)``.
    @discardableResult
    package func deleteOne(_ filter: MongoDocument) async throws -> Int {
        try await self.run { try $0.deleteOne(filter) }
    }

    /// See ``MongoSyncCollection/deleteMany(_:)``.
    @discardableResult
    package func deleteMany(_ filter: MongoDocument) async throws -> Int {
        try await self.run { try $0.deleteMany(filter) }
    }

    /// See ``MongoSyncCollection/createIndexes(_:)``.
    package func createIndexes(_ indexes: [MongoIndex]) async throws {
        try await self.run { try $0.createIndexes(indexes) }
    }

    private func run<T: Sendable>(
        _ body: @escaping @Sendable (MongoSyncCollection<Document>) throws -> T
    )
        async throws -> T
    {
        try await self.store.withConnection { [name] connection in
            try body(MongoSyncCollection(connection: connection, name: name))
        }
    }
}
