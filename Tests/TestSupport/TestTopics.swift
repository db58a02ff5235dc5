import Foundation
import ServiceKit
import StorefrontContracts
import Synchronization
import Testing

/// Keeps each test's events to itself on the shared dev broker.
///
/// Every runtime a test makes (``TestRuntimes/make(_:overrides:)``) gets the same `KAFKA_TOPIC_PREFIX`, derived from
/// the running test, and the platform's topics exist under that prefix before the runtime starts. A consumer group
/// reading from the earliest offset therefore sees exactly the events of its own test: nothing an earlier test, or a
/// test running beside it, produced. Runtimes that talk to a private broker (a `kafka.brokers` override) are isolated
/// by that broker instead and get no prefix.
package enum TestTopics {
    /// Differs between test processes, so a prefix is never reused even on a long-lived broker.
    private static let processSalt = UUID().uuidString.prefix(8).lowercased()
    /// The creation of each prefix's topics, started once and awaited by every runtime of the test.
    private static let creations = Mutex<[String: Task<Void, any Error>]>([:])

    /// The topic prefix of the running test (`t<hash>.`), or of a fresh scope when called outside a test.
    package static var currentPrefix: String {
        let scope = Test.current.map { "\($0.id)" } ?? UUID().uuidString
        return "t\(Self.processSalt)\(Self.hash(scope))."
    }

    /// Makes sure the platform's topics exist under `prefix` on the shared dev broker, with their partition counts.
    /// Idempotent and safe to call concurrently: the first call creates them, the others wait for it.
    /// - Throws: when the broker's control API refuses or cannot be reached.
    package static func prepare(_ prefix: String) async throws {
        let task = Self.creations.withLock { creations in
            if let task = creations[prefix] { return task }
            let task = Task {
                let control = DevBrokerControl(controlURL: try TestEnvironment.brokerControlURL())
                for topic in Topics.all {
                    try await control.createTopic(prefix + topic.name, partitions: topic.partitions)
                }
            }
            creations[prefix] = task
            return task
        }
        try await task.value
    }

    /// FNV-1a, 64 bits, as hex: short, stable, and spread well enough for topic names.
    private static func hash(_ text: String) -> String {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value = value &* 0x100_0000_01b3
        }
        return String(value, radix: 16)
    }
}
