import Foundation
import KafkaBus
import MongoStore
import ServiceKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

/// Dead letters through the real dev broker: a message that cannot be decoded, or whose handler keeps failing, goes
/// to `<topic>.dlq` within the configured bound, with headers saying where it came from and why, and the messages
/// behind it on the same partition are handled.
@Suite
struct DeadLetterTests {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "the handler always fails on this user" }
    }

    /// The calls of the test's `user-created` handler: the ids it handled and when it failed on the poisoned one.
    final class Calls: Sendable {
        let handled = Mutex<[String]>([])
        let failures = Mutex<[ContinuousClock.Instant]>([])
    }

    /// Runs a `user-created` consumer of group `group` that fails on `poisoned` until the test ends, a reader of
    /// `user-created.dlq`, and the runtime's producer, while `body` runs.
    private static func withConsumer(
        overrides: [String: String],
        group: String,
        poisoned: String,
        calls: Calls,
        deadLetters: MessageLog,
        _ body: @escaping @Sendable (ServiceRuntime, KafkaBusProducer) async throws -> Void
    ) async throws {
        let runtime = try await TestRuntimes.make(.cart, overrides: overrides)
        let handler = EventHandler(Topics.userCreated) { event, _ in
            if event.userId == poisoned {
                calls.failures.withLock { $0.append(.now) }
                throw Failure()
            }
            calls.handled.withLock { $0.append(event.userId) }
        }
        let consumer = try runtime.makeConsumer(groupID: group, handler: handler)
        let reader = try runtime.makeConsumer(
            groupID: TestEnvironment.uniqueName("dlq-reader"),
            topics: [KafkaBusDeadLetter.topic(for: Topics.userCreated.name)]
        ) { message, _ in deadLetters.append(message) }
        let producer = try runtime.makeProducer()
        try await withRunning([producer.run, consumer.run, reader.run]) {
            try await body(runtime, producer)
        }
        await runtime.store.close()
    }

    private static func send(_ producer: KafkaBusProducer, key: String, _ value: [UInt8]) async throws {
        _ = try await producer.send(KafkaBusMessage(topic: Topics.userCreated.name, key: key, value: value))
    }

    private static func event(_ userID: String) throws -> [UInt8] {
        Array(try StorefrontJSON.encoder().encode(UserCreatedEvent(email: "\(userID)@example.com", userId: userID)))
    }

    @Test("an undecodable message and one whose handler always fails are dead-lettered; the partition moves on")
    func poisonedMessages() async throws {
        let key = MongoObjectID().hex
        let poisoned = MongoObjectID().hex
        let later = MongoObjectID().hex
        let group = TestEnvironment.uniqueName("dlq-group")
        let calls = Calls()
        let deadLetters = MessageLog()
        let garbage = Array("{not json".utf8)
        let failing = try Self.event(poisoned)
        try await Self.withConsumer(
            overrides: ["kafka.handler.max.attempts": "3", "kafka.handler.retry.timeout.ms": "600000"],
            group: group,
            poisoned: poisoned,
            calls: calls,
            deadLetters: deadLetters
        ) { _, producer in
            // One key: one partition, in this order.
            try await Self.send(producer, key: key, garbage)
            try await Self.send(producer, key: key, failing)
            try await Self.send(producer, key: key, try Self.event(later))
            #expect(try await eventually(.seconds(60)) { calls.handled.withLock { $0.contains(later) } })
            #expect(try await eventually(.seconds(60)) { deadLetters.all.count == 2 })
        }
        let letters = deadLetters.all
        try #require(letters.count == 2)
        let (undecodable, exhausted) = (letters[0], letters[1])
        #expect(undecodable.value == garbage && exhausted.value == failing)
        for letter in letters {
            #expect(letter.key == key)
            #expect(letter.headers[KafkaBusDeadLetter.Header.topic] == Topics.userCreated.name)
            #expect(letter.headers[KafkaBusDeadLetter.Header.key] == key)
            #expect(letter.headers[KafkaBusDeadLetter.Header.group] == group)
            #expect(letter.headers[KafkaBusDeadLetter.Header.partition].flatMap { Int32($0) } != nil)
            let failedAt = letter.headers[KafkaBusDeadLetter.Header.failedAt].flatMap { Int64($0) } ?? 0
            #expect(abs(failedAt - Date().epochMilliseconds) < 600_000)
        }
        #expect(undecodable.headers[KafkaBusDeadLetter.Header.attempts] == "1")
        #expect(undecodable.headers[KafkaBusDeadLetter.Header.error]?.contains("undecodable user-created") == true)
        #expect(exhausted.headers[KafkaBusDeadLetter.Header.attempts] == "3")
        #expect(exhausted.headers[KafkaBusDeadLetter.Header.error] == "\(Failure())")
        #expect(calls.failures.withLock { $0.count } == 3)
        let offsets = letters.compactMap { $0.headers[KafkaBusDeadLetter.Header.offset].flatMap { Int64($0) } }
        #expect(offsets.count == 2 && offsets[0] + 1 == offsets[1])

        // The group committed past both: a new member of it handles only what comes next.
        let next = MongoObjectID().hex
        let again = Calls()
        try await Self.withConsumer(
            overrides: [:],
            group: group,
            poisoned: poisoned,
            calls: again,
            deadLetters: MessageLog()
        ) { _, producer in
            try await Self.send(producer, key: key, try Self.event(next))
            #expect(try await eventually(.seconds(60)) { again.handled.withLock { $0.contains(next) } })
        }
        #expect(again.handled.withLock { $0 } == [next])
        #expect(again.failures.withLock { $0.isEmpty })
    }

    @Test("the retry time bounds how long a failing message holds its partition, whatever the attempts allow")
    func retryTimeBound() async throws {
        let key = MongoObjectID().hex
        let poisoned = MongoObjectID().hex
        let later = MongoObjectID().hex
        let calls = Calls()
        let deadLetters = MessageLog()
        try await Self.withConsumer(
            overrides: ["kafka.handler.max.attempts": "1000000", "kafka.handler.retry.timeout.ms": "1500"],
            group: TestEnvironment.uniqueName("dlq-group"),
            poisoned: poisoned,
            calls: calls,
            deadLetters: deadLetters
        ) { _, producer in
            try await Self.send(producer, key: key, try Self.event(poisoned))
            try await Self.send(producer, key: key, try Self.event(later))
            #expect(try await eventually(.seconds(60)) { calls.handled.withLock { $0.contains(later) } })
            #expect(try await eventually(.seconds(60)) { deadLetters.all.count == 1 })
        }
        let letter = try #require(deadLetters.all.first)
        let failures = calls.failures.withLock { $0 }
        #expect(letter.headers[KafkaBusDeadLetter.Header.attempts] == String(failures.count))
        #expect(failures.count >= 2)
        // Retried for the whole bound (1.5 s, less a scheduling margin), and given up on well before a minute.
        let retried = try #require(failures.last) - (try #require(failures.first))
        #expect(retried >= .milliseconds(1400) && retried < .seconds(60), "retried for \(retried)")
    }
}
