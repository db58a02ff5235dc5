internal import CMongoC
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
        let json = try BSONBridge.extendedJSON(encoding: document)
        try self.write { collection, options, reply, error in
            try BSONBridge.withDocument(json) { document in
                mongoc_collection_insert_one(collection, document, options, reply, &error)
            }
        }
    }

    /// Inserts several documents in one ordered batch: the batch stops at the first failure.
    package func insert(_ documents: [Document]) throws {
        guard !documents.isEmpty else { return }
        let jsons = try documents.map { try BSONBridge.extendedJSON(encoding: $0) }
        try self.write { collection, options, reply, error in
            var parsed: [OpaquePointer?] = []
            defer { for document in parsed { bson_destroy(document) } }
            for json in jsons { parsed.append(try BSONBridge.makeDocument(json)) }
            return parsed.withUnsafeMutableBufferPointer { pointers in
                mongoc_collection_insert_many(collection, pointers.baseAddress, pointers.count, options, reply, &error)
            }
        }
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
        return try self.connection.withCollection(self.name) { collection in
            try BSONBridge.withDocument(filter) { filter in
                try self.connection.withOptions(options) { options in
                    let cursor = mongoc_collection_find_with_opts(collection, filter, options, nil)!
                    defer { mongoc_cursor_destroy(cursor) }
                    var results: [Document] = []
                    var document: OpaquePointer? = nil
                    while mongoc_cursor_next(cursor, &document), let current = document {
                        results.append(try BSONBridge.decode(Document.self, from: current))
                    }
                    var error = bson_error_t()
                    if mongoc_cursor_error(cursor, &error) { throw MongoStoreError.mongoc(error) }
                    return results
                }
            }
        }
    }

    /// The first document matching `filter` (in `sort` order), or `nil`.
    package func findOne(_ filter: MongoDocument, sort: MongoDocument? = nil) throws -> Document? {
        try self.find(filter, sort: sort, limit: 1).first
    }

    /// How many documents match `filter`.
    package func count(_ filter: MongoDocument = [:]) throws -> Int {
        try self.connection.withCollection(self.name) { collection in
            try BSONBridge.withDocument(filter) { filter in
                try self.connection.withOptions(nil) { options in
                    try BSONBridge.withReply { reply in
                        var error = bson_error_t()
                        let count = mongoc_collection_count_documents(collection, filter, options, nil, reply, &error)
                        guard count >= 0 else { throw MongoStoreError.mongoc(error, reply: reply) }
                        return Int(count)
                    }
                }
            }
        }
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
        try self.update(filter, upsert: upsert) { collection, filter, options, reply, error in
            try BSONBridge.withDocument(update) { update in
                mongoc_collection_update_one(collection, filter, update, options, reply, &error)
            }
        }
    }

    /// Applies `update` to every document matching `filter`.
    package func updateMany(
        _ filter: MongoDocument,
        _ update: MongoDocument,
        upsert: Bool = false
    ) throws
        -> MongoUpdateResult
    {
        try self.update(filter, upsert: upsert) { collection, filter, options, reply, error in
            try BSONBridge.withDocument(update) { update in
                mongoc_collection_update_many(collection, filter, update, options, reply, &error)
            }
        }
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
        let json = try BSONBridge.extendedJSON(encoding: replacement)
        return try self.update(filter, upsert: upsert) { collection, filter, options, reply, error in
            try BSONBridge.withDocument(json) { replacement in
                mongoc_collection_replace_one(collection, filter, replacement, options, reply, &error)
            }
        }
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
        try self.connection.withCollection(self.name) { collection in
            try BSONBridge.withDocument(filter) { filter in
                try BSONBridge.withDocument(update) { update in
                    try BSONBridge.withDocument(sort) { sort in
                        try self.connection.withOptions(nil) { extra in
                            let options = mongoc_find_and_modify_opts_new()!
                            defer { mongoc_find_and_modify_opts_destroy(options) }
                            _ = mongoc_find_and_modify_opts_set_update(options, update)
                            _ = mongoc_find_and_modify_opts_set_sort(options, sort)
                            _ = mongoc_find_and_modify_opts_append(options, extra)
                            if returning == .after {
                                _ = mongoc_find_and_modify_opts_set_flags(options, MONGOC_FIND_AND_MODIFY_RETURN_NEW)
                            }
                            return try BSONBridge.withReply { reply in
                                var error = bson_error_t()
                                guard
                                    mongoc_collection_find_and_modify_with_opts(
                                        collection,
                                        filter,
                                        options,
                                        reply,
                                        &error
                                    )
                                else { throw MongoStoreError.mongoc(error, reply: reply) }
                                return try BSONBridge.decode(FindAndModifyReply.self, from: reply).value
                            }
                        }
                    }
                }
            }
        }
    }

    /// Deletes the first document matching `filter`; returns how many were deleted (0 or 1).
    @discardableResult
    package func deleteOne(_ filter: MongoDocument) throws -> Int {
        try self.delete(filter, operation: mongoc_collection_delete_one)
    }

    /// Deletes every document matching `filter`; returns how many were deleted.
    @discardableResult
    package func deleteMany(_ filter: MongoDocument) throws -> Int {
        try self.delete(filter, operation: mongoc_collection_delete_many)
    }

    /// Creates the indexes that do not exist yet. Call it at startup, before any transaction touches the
    /// collection (dev-store.md gap 7).
    package func createIndexes(_ indexes: [MongoIndex]) throws {
        let command: MongoDocument = [
            "createIndexes": .string(self.name),
            "indexes": .array(indexes.map(\.specification)),
        ]
        try self.write { collection, options, reply, error in
            try BSONBridge.withDocument(command) { command in
                mongoc_collection_write_command_with_opts(collection, command, options, reply, &error)
            }
        }
    }

    // MARK: - Shared plumbing

    private struct FindAndModifyReply: Decodable {
        var value: Document?
    }

    private struct DeleteReply: Decodable {
        var deletedCount: Int?
    }

    /// Runs one write call with a fresh options document and reply, and turns a `false` return into the mapped error.
    @discardableResult
    private func write(
        _ call: (OpaquePointer, OpaquePointer, OpaquePointer, inout bson_error_t) throws -> Bool
    ) throws -> Data {
        try self.connection.withCollection(self.name) { collection in
            try self.connection.withOptions(nil) { options in
                try BSONBridge.withReply { reply in
                    var error = bson_error_t()
                    guard try call(collection, options, reply, &error) else {
                        throw MongoStoreError.mongoc(error, reply: reply)
                    }
                    return BSONBridge.relaxedJSON(reply)
                }
            }
        }
    }

    /// Runs one update-shaped call (update or replace) with the filter and options bound, and decodes its counts.
    private func update(
        _ filter: MongoDocument,
        upsert: Bool,
        _ call: (OpaquePointer, OpaquePointer, OpaquePointer, OpaquePointer, inout bson_error_t) throws -> Bool
    ) throws -> MongoUpdateResult {
        let options: MongoDocument = upsert ? ["upsert": true] : [:]
        return try self.connection.withCollection(self.name) { collection in
            try BSONBridge.withDocument(filter) { filter in
                try self.connection.withOptions(options) { options in
                    try BSONBridge.withReply { reply in
                        var error = bson_error_t()
                        guard try call(collection, filter, options, reply, &error) else {
                            throw MongoStoreError.mongoc(error, reply: reply)
                        }
                        return try BSONBridge.decode(MongoUpdateResult.self, from: reply)
                    }
                }
            }
        }
    }

    private typealias DeleteCall = (
        OpaquePointer?, OpaquePointer?, OpaquePointer?, OpaquePointer?, UnsafeMutablePointer<bson_error_t>?
    ) -> Bool

    private func delete(_ filter: MongoDocument, operation: DeleteCall) throws -> Int {
        let reply = try self.write { collection, options, reply, error in
            try BSONBridge.withDocument(filter) { filter in
                operation(collection, filter, options, reply, &error)
            }
        }
        return (try? JSONDecoder().decode(DeleteReply.self, from: reply))?.deletedCount ?? 0
    }
}
