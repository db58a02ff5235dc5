import Foundation
import KafkaBus
import Logging
import MongoStore
import Synchronization
import TestSupport
import Testing

@testable import ServiceKit

/// The transactional outbox and its relay, against the real dev store and dev broker (a private one where the broker
/// is taken down).
@Suite(.timeLimit(.minutes(3)))
struct OutboxTests {
    /// A test event: its key travels in the payload, so every record can have its own.
    struct Payload: StorefrontEvent, Equatable {
        static let schemaVersion = 1
        var eventId: String?
        var n: Int
        var k = "k"
        var key: String { self.k }
    }

    /// Messages one consumer received.
    final class Received: Sendable {
        let messages = Mutex<[KafkaBusMessage]>([])
        func values(key: String? = nil) -> [KafkaBusMessage] {
            self.messages.withLock { $0 }.filter { key == nil || $0.key == key }
        }
    }

    /// A consumer on a fresh group (reads from the earliest offset) collecting `topic` into `received`.
    static func consumer(_ runtime: ServiceRuntime, topic: String, into received: Received) throws -> KafkaBusConsumer {
        try runtime.makeConsumer(groupID: TestEnvironment.uniqueName("outbox-group"), topics: [topic]) { message, _ in
            received.messages.withLock { $0.append(message) }
        }
    }

    static func append(
        _ store: MongoStore,
        topic: String,
        key: String,
        n: Int,
        requestID: String? = nil
    ) async throws
        -> Payload
    {
        let payload = Payload(eventId: UUID().uuidString.lowercased(), n: n, k: key)
        _ = try await store.withTransaction { transaction in
            try Outbox.append(
                payload,
                to: EventTopic(topic, partitions: 1),
                origin: EventOrigin(requestID: requestID),
                in: transaction
            )
        }
        return payload
    }

    static func outboxCount(_ store: MongoStore) async throws -> Int {
        try await store.collection(Outbox.collectionName, as: OutboxRecord.self).count()
    }

    @Test("an appended event is published once, with its key and headers, and its record is deleted")
    func publishesOnce() async throws {
        let runtime = try await TestRuntimes.make(.payment, overrides: ["outbox.poll.interval.ms": "60000"])
        try await Outbox.prepare(runtime.store)
        let topic = TestEnvironment.uniqueName("outbox-once")
        let producer = try runtime.makeProducer()
        let relay = try runtime.makeOutboxRelay(producer: producer)
        let received = Received()
        let consumer = try Self.consumer(runtime, topic: topic, into: received)
        try await withRunning([producer.run, relay.run, consumer.run]) {
            let payload = try await Self.append(
                runtime.store,
                topic: topic,
                key: "k-1",
                n: 1,
                requestID: "req-outbox-1"
            )
            // The poll interval is a minute: only notify() can make this prompt.
            relay.notify()
            #expect(await eventually { received.values().count >= 1 })
            #expect(try await eventually { try await Self.outboxCount(runtime.store) == 0 })
            try await Task.sleep(for: .seconds(1))
            let messages = received.values()
            #expect(messages.count == 1)
            let message = try #require(messages.first)
            #expect(message.key == "k-1")
            #expect(message.headers["content-type"] == "application/json")
            #expect(message.headers["x-request-id"] == "req-outbox-1")
            #expect(try JSONDecoder().decode(Payload.self, from: Data(message.value)) == payload)
        }
        try await runtime.store.dropDatabase()
        await runtime.store.close()
    }

    @Test("records written while no relay runs (a crash after the commit) are published, in order, when one starts")
    func crashBetweenWriteAndPublish() async throws {
        let runtime = try await TestRuntimes.make(.payment, overrides: ["outbox.poll.interval.ms": "200"])
        try await Outbox.prepare(runtime.store)
        let topic = TestEnvironment.uniqueName("outbox-crash")
        let producer = try runtime.makeProducer()
        let received = Received()
        let consumer = try Self.consumer(runtime, topic: topic, into: received)
        var written: [Payload] = []
        for n in 1...5 {
            written.append(try await Self.append(runtime.store, topic: topic, key: "same-key", n: n))
        }
        #expect(try await Self.outboxCount(runtime.store) == 5)
        try await withRunning([producer.run, consumer.run]) {
            // Nothing publishes yet: the records wait in the store.
            try await Task.sleep(for: .seconds(2))
            #expect(received.values().isEmpty)
            #expect(try await Self.outboxCount(runtime.store) == 5)
            // A relay that starts later (a restarted process) finds them by polling; no notify().
            let relay = try runtime.makeOutboxRelay(producer: producer)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await relay.run() }
                #expect(await eventually { received.values().count >= 5 })
                #expect(try await eventually { try await Self.outboxCount(runtime.store) == 0 })
                try await Task.sleep(for: .seconds(1))
                group.cancelAll()
            }
        }
        let payloads = try received.values().map { try JSONDecoder().decode(Payload.self, from: Data($0.value)) }
        #expect(payloads == written)
        try await runtime.store.dropDatabase()
        await runtime.store.close()
    }

    @Test("an aborted transaction leaves no outbox record")
    func abortedTransaction() async throws {
        struct Refused: Error {}
        let runtime = try await TestRuntimes.make(.payment)
        try await Outbox.prepare(runtime.store)
        await #expect(throws: Refused.self) {
            try await runtime.store.withTransaction { transaction in
                try Outbox.append(
                    Payload(eventId: "e-1", n: 1),
                    to: EventTopic("t", partitions: 1),
                    origin: EventOrigin(requestID: nil),
                    in: transaction
                )
                throw Refused()
            }
        }
        #expect(try await Self.outboxCount(runtime.store) == 0)
        _ = try await Self.append(runtime.store, topic: "t", key: "k", n: 2)
        #expect(try await Self.outboxCount(runtime.store) == 1)
        try await runtime.store.dropDatabase()
        await runtime.store.close()
    }

    @Test(
        "while the broker is down, records stay in the outbox; they are published once it is back",
        .timeLimit(.minutes(3))
    )
    func brokerDown() async throws {
        let topic = TestEnvironment.uniqueName("outbox-down")
        try await DevBrokerProcess.with(brokers: 1, partitions: 1, topics: [topic]) { broker in
            let runtime = try await TestRuntimes.make(
                .payment,
                overrides: ["kafka.brokers": broker.bootstrap, "outbox.poll.interval.ms": "200"]
            )
            try await Outbox.prepare(runtime.store)
            let producer = try runtime.makeProducer()
            let relay = try runtime.makeOutboxRelay(producer: producer)
            let received = Received()
            let consumer = try Self.consumer(runtime, topic: topic, into: received)
            try await withRunning([producer.run, relay.run, consumer.run]) {
                // The relay works while the broker is up.
                _ = try await Self.append(runtime.store, topic: topic, key: "k", n: 0)
                relay.notify()
                #expect(await eventually { received.values().count == 1 })
                try await broker.setDown(broker: 1)
                let payload = try await Self.append(runtime.store, topic: topic, key: "k", n: 1)
                relay.notify()
                try await Task.sleep(for: .seconds(2))
                #expect(try await Self.outboxCount(runtime.store) == 1)
                #expect(received.values().count == 1)
                try await broker.setUp(broker: 1)
                #expect(try await eventually { try await Self.outboxCount(runtime.store) == 0 })
                #expect(await eventually { received.values().count >= 2 })
                try await Task.sleep(for: .seconds(1))
                // Each record was published once: one message per offset. (The consumer itself may be handed a message
                // again after the broker's outage, before its offset was committed: at-least-once, by design.)
                var offsets = Set<Int64>()
                let published = received.values().filter { offsets.insert($0.offset).inserted }
                let payloads = try published.map { try JSONDecoder().decode(Payload.self, from: Data($0.value)) }
                #expect(payloads.map(\.n) == [0, 1])
                #expect(payloads.last == payload)
            }
            try await runtime.store.dropDatabase()
            await runtime.store.close()
        }
    }
}
