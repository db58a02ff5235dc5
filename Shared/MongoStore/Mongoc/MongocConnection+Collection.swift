internal import CMongoC
import Foundation

/// The libmongoc calls on one collection, in Swift terms: documents go in as ``MongoDocument``s and come out
/// decoded, counts and results as Swift values. ``MongoSyncCollection`` is built on these; no C type leaves
/// this folder.
///
/// Each call blocks on the network: it runs only inside a job on the store's thread pool, on the connection popped
/// for that job.
extension MongocConnection {
    /// `insert_one` of one document.
    func insertOne(into collection: String, document: MongoDocument) throws {
        try self.write(collection) { collection, options, reply, error in
            try BSONBridge.withDocument(document) { document in
                mongoc_collection_insert_one(collection, document, options, reply, &error)
            }
        }
    }

    /// `insert_many`, ordered: the batch stops at the first failure.
    func insertMany(into collection: String, documents: [MongoDocument]) throws {
        try self.write(collection) { collection, options, reply, error in
            var parsed: [OpaquePointer?] = []
            defer { for document in parsed { bson_destroy(document) } }
            for document in documents { parsed.append(try BSONBridge.makeDocument(document)) }
            return parsed.withUnsafeMutableBufferPointer { pointers in
                mongoc_collection_insert_many(collection, pointers.baseAddress, pointers.count, options, reply, &error)
            }
        }
    }

    /// The documents matching `filter`, with find `options` (`sort`, `skip`, `limit`, `projection`), decoded.
    func find<Document: Decodable>(
        _ type: Document.Type,
        in collection: String,
        filter: MongoDocument,
        options: MongoDocument
    ) throws -> [Document] {
        try self.withCollection(collection) { collection in
            try BSONBridge.withDocument(filter) { filter in
                try self.withOptions(options) { options in
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

    /// `count_documents` matching `filter`.
    func count(in collection: String, filter: MongoDocument) throws -> Int {
        try self.withCollection(collection) { collection in
            try BSONBridge.withDocument(filter) { filter in
                try self.withOptions(nil) { options in
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

    /// `update_one` or `update_many` with `update` (operators), optionally upserting.
    func update(
        in collection: String,
        filter: MongoDocument,
        update: MongoDocument,
        upsert: Bool,
        many: Bool
    ) throws -> MongoUpdateResult {
        try self.update(collection, filter: filter, upsert: upsert) { collection, filter, options, reply, error in
            try BSONBridge.withDocument(update) { update in
                many
                    ? mongoc_collection_update_many(collection, filter, update, options, reply, &error)
                    : mongoc_collection_update_one(collection, filter, update, options, reply, &error)
            }
        }
    }

    /// `replace_one`, optionally upserting.
    func replaceOne(
        in collection: String,
        filter: MongoDocument,
        replacement: MongoDocument,
        upsert: Bool
    ) throws -> MongoUpdateResult {
        try self.update(collection, filter: filter, upsert: upsert) { collection, filter, options, reply, error in
            try BSONBridge.withDocument(replacement) { replacement in
                mongoc_collection_replace_one(collection, filter, replacement, options, reply, &error)
            }
        }
    }

    /// `find_and_modify` of the first document matching `filter` in `sort` order; the document as it was before
    /// the update, or after it with `returnNew`; `nil` when nothing matches.
    func findOneAndUpdate<Document: Decodable>(
        _ type: Document.Type,
        in collection: String,
        filter: MongoDocument,
        update: MongoDocument,
        sort: MongoDocument?,
        returnNew: Bool
    ) throws -> Document? {
        try self.withCollection(collection) { collection in
            try BSONBridge.withDocument(filter) { filter in
                try BSONBridge.withDocument(update) { update in
                    try BSONBridge.withDocument(sort) { sort in
                        try self.withOptions(nil) { extra in
                            let options = mongoc_find_and_modify_opts_new()!
                            defer { mongoc_find_and_modify_opts_destroy(options) }
                            _ = mongoc_find_and_modify_opts_set_update(options, update)
                            _ = mongoc_find_and_modify_opts_set_sort(options, sort)
                            _ = mongoc_find_and_modify_opts_append(options, extra)
                            if returnNew {
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
                                return try BSONBridge.decode(FindAndModifyReply<Document>.self, from: reply).value
                            }
                        }
                    }
                }
            }
        }
    }

    /// `delete_one` or `delete_many` matching `filter`; how many were deleted.
    func delete(in collection: String, filter: MongoDocument, many: Bool) throws -> Int {
        struct Reply: Decodable {
            var deletedCount: Int?
        }
        let reply = try self.write(collection, decoding: Reply.self) { collection, options, reply, error in
            try BSONBridge.withDocument(filter) { filter in
                many
                    ? mongoc_collection_delete_many(collection, filter, options, reply, &error)
                    : mongoc_collection_delete_one(collection, filter, options, reply, &error)
            }
        }
        return reply.deletedCount ?? 0
    }

    /// A write command on the collection (`createIndexes`, …).
    func writeCommand(on collection: String, _ command: MongoDocument) throws {
        try self.write(collection) { collection, options, reply, error in
            try BSONBridge.withDocument(command) { command in
                mongoc_collection_write_command_with_opts(collection, command, options, reply, &error)
            }
        }
    }

    // MARK: - Shared plumbing

    /// The reply of `find_and_modify`: the document in `value`.
    private struct FindAndModifyReply<Document: Decodable>: Decodable {
        var value: Document?
    }

    /// Runs one write call with a fresh options document and reply; turns a `false` return into the mapped error.
    private func write(
        _ name: String,
        _ call: (OpaquePointer, OpaquePointer, OpaquePointer, inout bson_error_t) throws -> Bool
    ) throws {
        struct Ignored: Decodable {}
        _ = try self.write(name, decoding: Ignored.self, call)
    }

    /// ``write(_:_:)``, returning the reply decoded as `Reply`.
    private func write<Reply: Decodable>(
        _ name: String,
        decoding: Reply.Type,
        _ call: (OpaquePointer, OpaquePointer, OpaquePointer, inout bson_error_t) throws -> Bool
    ) throws -> Reply {
        try self.withCollection(name) { collection in
            try self.withOptions(nil) { options in
                try BSONBridge.withReply { reply in
                    var error = bson_error_t()
                    guard try call(collection, options, reply, &error) else {
                        throw MongoStoreError.mongoc(error, reply: reply)
                    }
                    return try BSONBridge.decode(Reply.self, from: reply)
                }
            }
        }
    }

    /// Runs one update-shaped call (update or replace) with the filter and options bound, and decodes its counts.
    private func update(
        _ name: String,
        filter: MongoDocument,
        upsert: Bool,
        _ call: (OpaquePointer, OpaquePointer, OpaquePointer, OpaquePointer, inout bson_error_t) throws -> Bool
    ) throws -> MongoUpdateResult {
        let options: MongoDocument = upsert ? ["upsert": true] : [:]
        return try self.withCollection(name) { collection in
            try BSONBridge.withDocument(filter) { filter in
                try self.withOptions(options) { options in
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
}
