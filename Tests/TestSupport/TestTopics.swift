import Foundation
import ServiceKit
import StorefrontContracts
import Synchronization
import Testing

/// Keeps each test's events to itself on the shared dev broker.
///
/// Every runtime a test makes (``TestRuntimes/make(_:overrides:)``) gets the same `KAFKA_TOPIC_PREFIX`, chosen for
/// the running test, and the platform's topics exist under that prefix before the runtime starts. A consumer group
/// reading from the earliest offset therefore sees exactly the events of its own test: nothing an earlier test, or a
/// test running beside it, produced. Runtimes that talk to a private broker (a `kafka.brokers` override) are isolated
/// by that broker instead and get no prefix.
///
/// The prefixes come from the topic sets the dev broker created at its start (`STOREFRONT_TEST_TOPIC_SETS`,
/// `Topics.setPrefix`), one per test in the order tests ask, so no topic is created while the suites run; past the
/// last set (or without sets), a prefix of the test's own is made and its topics created then.
package enum TestTopics {
    /// Differs between test processes, so a made-up prefix is never reused even on a long-lived broker.
    private static let processSalt = UUID().uuidString.prefix(8).lowercased()
    /// The prefix given to each test so far, by test id.
    private static let assigned = Mutex<[String: String]>([:])
    /// The creation of each made-up prefix's topics, started once and awaited by every runtime of the test.
    private static let creations = Mutex<[String: Task<Void, any Error>]>([:])

    /// The topic prefix of the running test, or of a fresh scope when called outside a test.
    package static var currentPrefix: String {
        let scope = Test.current.map { "\($0.id)" } ?? UUID().uuidString
        let sets = ProcessInfo.processInfo.environment["STOREFRONT_TEST_TOPIC_SETS"].flatMap(Int.init) ?? 0
        return Self.assigned.withLock { assigned in
            if let prefix = assigned[scope] { return prefix }
            let prefix =
                assigned.count < sets ? Topics.setPrefix(assigned.count) : "t\(Self.processSalt)\(Self.hash(scope))."
            assigned[scope] = prefix
            return prefix
        }
    }

    /// Whether the dev broker created `prefix`'s topics at its start.
    private static func isPrecreated(_ prefix: String) -> Bool {
        let sets = ProcessInfo.processInfo.environment["STOREFRONT_TEST_TOPIC_SETS"].flatMap(Int.init) ?? 0
        return (0..<sets).contains { Topics.setPrefix($0) == prefix }
    }

    /// Makes sure the platform's topics exist under `prefix` on the shared dev broker, with their partition counts.
    /// Idempotent and safe to call concurrently: the first call creates them, the others wait for it.
    /// - Throws: when the broker's control API refuses or cannot be reached.
    package static func prepare(_ prefix: String) async throws {
        if Self.isPrecreated(prefix) { return }
        let task = Self.creations.withLock { creations in
            if let task = creations[prefix] { return task }
            let task = Task {
                let control = DevBrokerControl(controlURL: try TestEnvironment.brokerControlURL())
                for topic in Topics.created {
                    try await control.createTopic(
                        prefix + topic.name,
                        partitions: topic.partitions,
                        timeout: .seconds(120)
                    )
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
