internal import CMongoC

/// One `mongoc_client_t` taken from the pool for the duration of one job on the store's thread pool, plus the session
/// while a transaction runs.
///
/// Not `Sendable`, on purpose: libmongoc clients, collections, cursors, sessions and documents are not thread-safe,
/// so a connection lives and dies inside the job that popped it (``MongoStore`` pushes it back when the job ends).
final class MongocConnection {
    let client: OpaquePointer
    let database: String
    /// The `mongoc_client_session_t` of the transaction in progress, if any.
    private(set) var session: OpaquePointer?

    init(client: OpaquePointer, database: String) {
        self.client = client
        self.database = database
    }

    /// Gives `body` a collection handle of this connection's database, destroyed afterwards.
    func withCollection<T>(_ name: String, _ body: (OpaquePointer) throws -> T) rethrows -> T {
        let collection = mongoc_client_get_collection(self.client, self.database, name)!
        defer { mongoc_collection_destroy(collection) }
        return try body(collection)
    }

    /// Builds an options document; inside a transaction it also carries the session id, which is how libmongoc
    /// binds an operation to the transaction.
    func withOptions<T>(_ options: MongoDocument?, _ body: (OpaquePointer) throws -> T) throws -> T {
        try BSONBridge.withDocument(options) { document in
            if let session = self.session {
                var error = bson_error_t()
                guard mongoc_client_session_append(session, document, &error) else {
                    throw MongoStoreError.mongoc(error)
                }
            }
            return try body(document)
        }
    }

    /// Runs a command that only reads, against `database` (default: this connection's); throws when it fails.
    /// (Its one caller, `ping`, needs no reply; decode one with ``BSONBridge/decode(_:from:)`` when a caller does.)
    func runCommand(_ command: MongoDocument, database: String? = nil) throws {
        try BSONBridge.withDocument(command) { command in
            try BSONBridge.withReply { reply in
                var error = bson_error_t()
                guard
                    mongoc_client_command_simple(self.client, database ?? self.database, command, nil, reply, &error)
                else { throw MongoStoreError.mongoc(error, reply: reply) }
            }
        }
    }

    /// Drops this connection's database.
    func dropDatabase() throws {
        let database = mongoc_client_get_database(self.client, self.database)!
        defer { mongoc_database_destroy(database) }
        var error = bson_error_t()
        guard mongoc_database_drop(database, &error) else { throw MongoStoreError.mongoc(error) }
    }

    /// Runs `body` inside a transaction and commits it; aborts it when `body` throws.
    ///
    /// A transaction that fails with the server's `TransientTransactionError` label (a write conflict, a primary
    /// change) is run again from the start, up to `maxAttempts` times in all, so `body` may run more than once and
    /// must have no effect outside the store. A commit whose outcome is unknown is retried (commits are idempotent).
    func withTransaction<T>(maxAttempts: Int, _ body: () throws -> T) throws -> T {
        var error = bson_error_t()
        guard let session = mongoc_client_start_session(self.client, nil, &error) else {
            throw MongoStoreError.mongoc(error)
        }
        self.session = session
        defer {
            self.session = nil
            mongoc_client_session_destroy(session)
        }
        var attempt = 1
        while true {
            guard mongoc_client_session_start_transaction(session, nil, &error) else {
                throw MongoStoreError.mongoc(error)
            }
            do {
                let result = try body()
                try self.commit(session, maxAttempts: maxAttempts)
                return result
            } catch let failure as MongoStoreError
                where failure.labels.contains("TransientTransactionError") && attempt < maxAttempts
            {
                Self.abortIfActive(session)
                attempt += 1
            } catch {
                Self.abortIfActive(session)
                throw error
            }
        }
    }

    /// Aborts the session's transaction unless it already ended (a failed commit ends it).
    private static func abortIfActive(_ session: OpaquePointer) {
        guard mongoc_client_session_in_transaction(session) else { return }
        var ignored = bson_error_t()
        _ = mongoc_client_session_abort_transaction(session, &ignored)
    }

    private func commit(_ session: OpaquePointer, maxAttempts: Int) throws {
        for attempt in 1...maxAttempts {
            let failure: MongoStoreError? = BSONBridge.withReply { reply in
                var error = bson_error_t()
                return mongoc_client_session_commit_transaction(session, reply, &error)
                    ? nil : MongoStoreError.mongoc(error, reply: reply)
            }
            guard let failure else { return }
            guard failure.labels.contains("UnknownTransactionCommitResult"), attempt < maxAttempts else {
                throw failure
            }
        }
    }
}
