internal import CMongoC

/// Owns a `mongoc_client_pool_t`.
///
/// `@unchecked Sendable`: libmongoc documents `mongoc_client_pool_pop`/`push` as thread-safe, and those are the only
/// calls made concurrently. `mongoc_client_pool_destroy` is not thread-safe; ``destroy()`` runs only after the
/// store's thread pool has finished every job, so no client is out of the pool by then.
final class MongocClientPool: @unchecked Sendable {
    private let pool: OpaquePointer

    /// Creates the pool. Its size is at least `configuration.threads`, so a job on the store's thread pool always gets
    /// a client without waiting for another job (the thread-pool/connection-pool deadlock of style.md §4.2).
    /// - Throws: ``MongoStoreError/Code/configuration`` for an unusable URI.
    init(configuration: MongoStoreConfiguration) throws {
        MongocInitializer.ensureInitialized()
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(configuration.uri, &error) else {
            // The libmongoc message quotes the URI, which may contain a password: keep it out of the error.
            throw MongoStoreError(.configuration, "MONGO_URI is not a valid MongoDB connection string")
        }
        defer { mongoc_uri_destroy(uri) }
        Self.setDefault(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, configuration.serverSelectionTimeout)
        Self.setDefault(uri, MONGOC_URI_SOCKETTIMEOUTMS, configuration.socketTimeout)
        let poolSize = max(Int32(configuration.threads), mongoc_uri_get_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, 0))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, poolSize)
        if mongoc_uri_get_appname(uri) == nil {
            mongoc_uri_set_appname(uri, configuration.appName)
        }
        guard let pool = mongoc_client_pool_new_with_error(uri, &error) else {
            throw MongoStoreError(.configuration, "cannot create the client pool: \(error.messageText)")
        }
        mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2)
        self.pool = pool
    }

    /// Takes a client out of the pool, blocking while all are in use. Run only on the store's thread pool.
    func pop() -> OpaquePointer {
        mongoc_client_pool_pop(self.pool)
    }

    /// Returns a client taken with ``pop()``.
    func push(_ client: OpaquePointer) {
        mongoc_client_pool_push(self.pool, client)
    }

    /// Destroys the pool; every client must have been pushed back.
    func destroy() {
        mongoc_client_pool_destroy(self.pool)
    }

    private static func setDefault(_ uri: OpaquePointer, _ option: String, _ value: Duration) {
        guard !mongoc_uri_has_option(uri, option) else { return }
        mongoc_uri_set_option_as_int32(uri, option, Int32(clamping: Int64(value / .milliseconds(1))))
    }
}
