import Configuration
import Foundation
package import ServiceKit

/// Service runtimes for tests: a real store (a fresh database on the shared dev store), the shared dev broker with
/// topics private to the running test (``TestTopics``), a fixed test secret, port 0.
package enum TestRuntimes {
    /// The secret every test runtime signs and verifies tokens with.
    package static let jwtSecret = "storefront-test-secret-0123456789abcdef"

    /// The configuration values a test runtime starts from; `overrides` win (keys as in env.example, dotted:
    /// `mongo.uri`, `ready.timeout.ms`, `product.url`, …).
    package static func values(
        _ service: StorefrontService,
        overrides: [String: String] = [:]
    ) throws -> [String: String] {
        let database = TestEnvironment.uniqueName("kit").replacingOccurrences(of: "-", with: "_")
        var values = [
            "app.env": "production",
            "log.level": "warning",
            "log.format": "text",
            service.portKey: "0",
            "mongo.uri": try TestEnvironment.mongoURI(),
            "mongo.database": database,
            "mongo.threads": "4",
            "mongo.serial.transactions": "true",
            // The dev store is one process that the whole suite shares: on a loaded machine it can take seconds to
            // answer, so tests wait long (those about the store being down set their own).
            "mongo.server.selection.timeout.ms": "30000",
            "mongo.socket.timeout.ms": "30000",
            "jwt.secret": self.jwtSecret,
            // Calls between services in tests wait long: on a loaded machine a real peer can take seconds, and
            // only the tests about timeouts (which set their own) care how long.
            "http.client.timeout.ms": "30000",
            // A service process stopped by a test exits at once; the drain test sets its own.
            "shutdown.drain.ms": "0",
        ]
        if let brokers = try? TestEnvironment.kafkaBrokers() { values["kafka.brokers"] = brokers }
        if overrides["kafka.brokers"] == nil { values["kafka.topic.prefix"] = TestTopics.currentPrefix }
        return values.merging(overrides) { $1 }
    }

    /// A runtime for `service`, configured by ``values(_:overrides:)``.
    package static func make(
        _ service: StorefrontService = .user,
        overrides: [String: String] = [:]
    ) async throws
        -> ServiceRuntime
    {
        let values = try self.values(service, overrides: overrides)
        if let prefix = values["kafka.topic.prefix"], !prefix.isEmpty { try await TestTopics.prepare(prefix) }
        return try await ServiceRuntime(service: service, reader: .storefront(overrides: values))
    }
}
