import Foundation
package import Logging
package import MongoStore

/// Stores for tests: each gets a database of its own on the shared dev store, dropped afterwards.
package enum TestStores {
    /// A logger that keeps test output quiet unless `STOREFRONT_TEST_LOG_LEVEL` asks for more.
    package static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel =
            ProcessInfo.processInfo.environment["STOREFRONT_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            ?? .warning
        return logger
    }

    /// A store configuration for a fresh database on the shared dev store.
    package static func configuration(threads: Int = 4) throws -> MongoStoreConfiguration {
        var configuration = MongoStoreConfiguration(
            uri: try TestEnvironment.mongoURI(),
            database: TestEnvironment.uniqueName("test").replacingOccurrences(of: "-", with: "_"),
            threads: threads,
            serverSelectionTimeout: .seconds(5),
            appName: "storefront-tests"
        )
        // The shared dev store must never see two transactions at once (dev-store-gaps.md, gap 17).
        configuration.serialTransactions = true
        return configuration
    }

    /// Runs `body` with a store on a fresh database, then drops the database and closes the store, also on failure.
    package static func withStore<T>(
        threads: Int = 4,
        _ body: (MongoStore) async throws -> T
    ) async throws -> T {
        let store = try MongoStore(
            configuration: try self.configuration(threads: threads),
            logger: self.logger("test.mongo")
        )
        do {
            let result = try await body(store)
            try? await store.dropDatabase()
            await store.close()
            return result
        } catch {
            try? await store.dropDatabase()
            await store.close()
            throw error
        }
    }
}
