package import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A service's MongoDB database: a libmongoc client pool and the thread pool that runs every blocking call.
///
/// **Blocking.** libmongoc is synchronous. Every call into it happens inside ``withConnection(_:)``, which runs the
/// work as a job on this store's own `NIOThreadPool` (`threads` threads) and pops a client from a pool of at least
/// as many clients, so a job never waits for a connection held by another job. No libmongoc call can be reached from
/// an event loop or the Swift cooperative pool: the C handles exist only inside those jobs (the `MongocConnection`
/// type is not `Sendable` and is internal to this module).
///
/// **Lifecycle.** A `Service`: add it first to the service group. ``run()`` waits for graceful shutdown, then
/// finishes the queued jobs and closes the pool, so HTTP handlers and consumers (shut down before it) can finish
/// their writes. Tests without a service group call ``close()``.
///
/// Thread-safe.
package final class MongoStore: Service, Sendable {
    /// The database every collection of this store lives in.
    package let databaseName: String
    private let clients: MongocClientPool
    private let threadPool: NIOThreadPool
    private let logger: Logger
    private let isClosed = Mutex(false)
    /// Admits one transaction at a time when the configuration asks for it (`serialTransactions`).
    private let transactionGate: TransactionGate?
    /// Held (`flock`) by every transaction when set, so that processes sharing it run theirs one at a time.
    private let transactionLockFile: String?

    /// Creates the pools; connects lazily, on the first operation.
    /// - Throws: ``MongoStoreError/Code/configuration`` when the URI is unusable.
    package init(configuration: MongoStoreConfiguration, logger: Logger) throws {
        self.databaseName = configuration.database
        self.clients = try MongocClientPool(configuration: configuration)
        self.threadPool = NIOThreadPool(numberOfThreads: configuration.threads)
        self.threadPool.start()
        self.logger = logger
        self.transactionGate = configuration.serialTransactions ? TransactionGate() : nil
        self.transactionLockFile = configuration.transactionLockFile
    }

    deinit {
        // A store dropped without close() (a failed startup, a test): stop the threads once their jobs are done and
        // only then destroy the pool, off this thread. close() remains the way to wait for it.
        if !self.isClosed.withLock({ $0 }) {
            self.threadPool.shutdownGracefully { [clients] _ in clients.destroy() }
        }
    }

    /// A collection of this store's database, decoded as `Document`.
    package func collection<Document: Codable & Sendable>(
        _ name: String,
        as type: Document.Type = Document.self
    ) -> MongoCollection<Document> {
        MongoCollection(store: self, name: name)
    }

    /// Asks the server to answer a `ping`: succeeds when the store is reachable.
    /// - Throws: ``MongoStoreError/Code/unavailable`` after the server-selection timeout when it is not.
    package func ping() async throws {
        try await self.withConnection { connection in try connection.runCommand(["ping": 1], database: "admin") }
    }

    /// Drops this store's database (tests clean up with it).
    package func dropDatabase() async throws {
        try await self.withConnection { connection in try connection.dropDatabase() }
    }

    /// Runs `body` in a multi-document transaction and commits it; if `body` throws, the transaction is aborted and
    /// nothing it wrote remains.
    ///
    /// The body is synchronous on purpose: a transaction is bound to one libmongoc client, which must not be held
    /// across an `await`. Do the reads and decisions the transaction needs inside it, and nothing else (no HTTP calls).
    /// On a transient server error (write conflict) the body runs again, up to 3 times in all.
    /// Create the collections and indexes it uses at startup (dev-store.md gap 7).
    package func withTransaction<T: Sendable>(
        _ body: @escaping @Sendable (MongoTransaction) throws -> T
    ) async throws
        -> T
    {
        let transaction = { [transactionLockFile] in
            try await self.withConnection { connection in
                // On a store thread, where blocking on another process's lock is allowed.
                try ProcessLock.holding(transactionLockFile) {
                    try connection.withTransaction(maxAttempts: 3) {
                        try body(MongoTransaction(connection: connection))
                    }
                }
            }
        }
        guard let gate = self.transactionGate else { return try await transaction() }
        await gate.enter()
        do {
            let value = try await transaction()
            await gate.leave()
            return value
        } catch {
            await gate.leave()
            throw error
        }
    }

    /// Waits for graceful shutdown, then closes the store.
    package func run() async throws {
        try? await gracefulShutdown()
        await self.close()
    }

    /// Lets queued operations finish, then releases every connection. Later operations fail with
    /// ``MongoStoreError/Code/shutdown``. Idempotent.
    package func close() async {
        let alreadyClosed = self.isClosed.withLock { closed in
            defer { closed = true }
            return closed
        }
        guard !alreadyClosed else { return }
        do {
            try await self.threadPool.shutdownGracefully()
        } catch {
            self.logger.warning("mongo thread pool did not shut down cleanly", metadata: ["error": "\(error)"])
        }
        self.clients.destroy()
        self.logger.debug("mongo store closed", metadata: ["mongo.database": "\(self.databaseName)"])
    }

    /// Runs `body` as one job on the store's thread pool with a client popped from the pool for the job's duration.
    /// The one funnel to libmongoc.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (MongocConnection) throws -> T) async throws -> T {
        guard !self.isClosed.withLock({ $0 }) else { throw MongoStoreError(.shutdown, "the store is closed") }
        do {
            return try await self.threadPool.runIfActive { [clients, databaseName] in
                let client = clients.pop()
                defer { clients.push(client) }
                return try body(MongocConnection(client: client, database: databaseName))
            }
        } catch is CancellationError where self.isClosed.withLock({ $0 }) {
            throw MongoStoreError(.shutdown, "the store closed before the operation ran")
        }
    }
}

/// A first-come, first-served lock for async callers (``MongoStore/withTransaction(_:)`` with serial transactions).
private actor TransactionGate {
    private var isHeld = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        guard self.isHeld else {
            self.isHeld = true
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    /// Hands the lock to the next waiter, or frees it.
    func leave() {
        if self.waiters.isEmpty {
            self.isHeld = false
        } else {
            self.waiters.removeFirst().resume()
        }
    }
}

/// An exclusive `flock` on a file, shared between processes (``MongoStoreConfiguration/transactionLockFile``). The
/// kernel releases it when its holder dies, even by SIGKILL.
private enum ProcessLock {
    /// Runs `body` holding the lock on `path` (created if missing), blocking until it is free; with `nil`, just runs
    /// `body`.
    static func holding<T>(_ path: String?, _ body: () throws -> T) throws -> T {
        guard let path else { return try body() }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw MongoStoreError(.configuration, "cannot open the transaction lock file \(path) (errno \(errno))")
        }
        defer { close(descriptor) }  // closing releases the lock
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw MongoStoreError(.configuration, "cannot lock the transaction lock file \(path) (errno \(errno))")
            }
        }
        return try body()
    }
}
