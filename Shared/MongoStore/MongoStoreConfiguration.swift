package import Configuration

/// How a ``MongoStore`` connects.
///
/// Keys, read from a reader scoped to `mongo` (so `uri` is the environment variable `MONGO_URI`):
/// - `uri` (`MONGO_URI`, secret): connection string; default `mongodb://127.0.0.1:27017`.
/// - `database` (`MONGO_DATABASE`): database name; default: the service's own database.
/// - `threads` (`MONGO_THREADS`): threads that run blocking libmongoc calls, and pooled connections; default 8.
/// - `server.selection.timeout.ms` (`MONGO_SERVER_SELECTION_TIMEOUT_MS`): how long an operation waits for a reachable
///   server before failing with ``MongoStoreError/Code/unavailable``; default 5000.
/// - `socket.timeout.ms` (`MONGO_SOCKET_TIMEOUT_MS`): how long one network read may take before failing with
///   ``MongoStoreError/Code/timeout``; default 10000.
/// - `serial.transactions` (`MONGO_SERIAL_TRANSACTIONS`): `true` runs this process's transactions one at a time;
///   default `false`. For the development store only: nx-27017 runs every session's transaction as a savepoint on one
///   shared SQLite connection, so concurrent transactions corrupt each other and can leave one open for good,
///   after which the store refuses work on every other database (docs/dev-store-gaps.md, gap 17).
/// - `transaction.lock.file` (`MONGO_TRANSACTION_LOCK_FILE`): a file whose lock (`flock`) every transaction holds;
///   default none. For the development store only: processes that share the file run their transactions one at a
///   time across processes, as `serial.transactions` does within one (scripts/stack gives every service and replica
///   of a stack the same file, so two replicas of a service never meet in gap 17).
///
/// Options already present in the URI win over the two timeouts.
package struct MongoStoreConfiguration: Sendable {
    package var uri: String
    package var database: String
    package var threads: Int
    package var serverSelectionTimeout: Duration
    package var socketTimeout: Duration
    /// Sent to the server in the handshake, so server logs show which service a connection belongs to.
    package var appName: String
    /// Whether transactions run one at a time in this process (`serial.transactions`).
    package var serialTransactions = false
    /// The file whose lock every transaction holds, shared by processes (`transaction.lock.file`); `nil`: none.
    package var transactionLockFile: String?

    package init(
        uri: String = "mongodb://127.0.0.1:27017",
        database: String,
        threads: Int = 8,
        serverSelectionTimeout: Duration = .milliseconds(5000),
        socketTimeout: Duration = .milliseconds(10000),
        appName: String = "storefront"
    ) {
        self.uri = uri
        self.database = database
        self.threads = threads
        self.serverSelectionTimeout = serverSelectionTimeout
        self.socketTimeout = socketTimeout
        self.appName = appName
    }

    /// Reads the keys listed on the type from `reader`, which must be scoped to `mongo`.
    /// - Throws: ``MongoStoreError/Code/configuration`` when a value is present but malformed or out of range.
    package init(reader: ConfigReader, defaultDatabase: String, appName: String) throws {
        self.init(database: defaultDatabase, appName: appName)
        self.uri = reader.string(forKey: "uri", isSecret: true, default: self.uri)
        self.database = reader.string(forKey: "database", default: defaultDatabase)
        self.threads = try Self.positiveInt(reader, "threads", default: self.threads)
        self.serverSelectionTimeout = .milliseconds(
            try Self.positiveInt(reader, "server.selection.timeout.ms", default: 5000)
        )
        self.socketTimeout = .milliseconds(try Self.positiveInt(reader, "socket.timeout.ms", default: 10000))
        switch reader.string(forKey: "serial.transactions")?.lowercased() {
        case nil, "false", "0": self.serialTransactions = false
        case "true", "1": self.serialTransactions = true
        case let other?:
            throw MongoStoreError(.configuration, "mongo.serial.transactions must be true or false, got '\(other)'")
        }
        self.transactionLockFile = reader.string(forKey: "transaction.lock.file").flatMap { $0.isEmpty ? nil : $0 }
        guard !self.database.isEmpty else {
            throw MongoStoreError(.configuration, "the database name is empty")
        }
    }

    private static func positiveInt(_ reader: ConfigReader, _ key: ConfigKey, default defaultValue: Int) throws -> Int {
        guard let text = reader.string(forKey: key) else { return defaultValue }
        guard let value = Int(text), value > 0 else {
            throw MongoStoreError(.configuration, "mongo.\(key) must be a positive integer, got '\(text)'")
        }
        return value
    }
}
