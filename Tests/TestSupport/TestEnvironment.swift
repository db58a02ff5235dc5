import Foundation

/// What `scripts/test` hands to the test process: the addresses of the fresh dev store and dev broker it started,
/// and the executables a test needs to start private ones (for fault injection that must not disturb other tests).
///
/// Every accessor throws a clear error when its variable is missing, so running `swift test` without the script
/// fails loudly instead of skipping the integration tests.
package enum TestEnvironment {
    /// Error thrown when the test process was not started by `scripts/test`.
    package struct MissingVariable: Error, CustomStringConvertible {
        package let name: String
        package var description: String {
            "\(self.name) is not set: run the tests through scripts/test, which starts the dev store and broker"
        }
    }

    /// `STOREFRONT_TEST_MONGO_URI`: the shared dev store, e.g. `mongodb://127.0.0.1:40123`.
    package static func mongoURI() throws -> String { try self.require("STOREFRONT_TEST_MONGO_URI") }

    /// `STOREFRONT_TEST_KAFKA_BROKERS`: bootstrap servers of the shared dev broker.
    package static func kafkaBrokers() throws -> String { try self.require("STOREFRONT_TEST_KAFKA_BROKERS") }

    /// `STOREFRONT_TEST_BROKER_CONTROL`: base URL of the shared dev broker's control API.
    package static func brokerControlURL() throws -> String { try self.require("STOREFRONT_TEST_BROKER_CONTROL") }

    /// `STOREFRONT_DEV_BROKER`: absolute path of the built `dev-broker` executable.
    package static func devBrokerExecutable() throws -> String { try self.require("STOREFRONT_DEV_BROKER") }

    /// `STOREFRONT_DEV_STORE`: absolute path of the `nx-27017` executable in the project's venv.
    package static func devStoreExecutable() throws -> String { try self.require("STOREFRONT_DEV_STORE") }

    /// A name no other test (or earlier run against the same store or broker) uses: `prefix-1a2b3c4d`.
    package static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    private static func require(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw MissingVariable(name: name)
        }
        return value
    }
}
