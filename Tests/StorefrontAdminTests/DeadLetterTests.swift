import Foundation
import KafkaBus
import MongoStore
import ServiceKit
import StorefrontAdminKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

/// Dead letters on the test's topics: a letter as a consumer writes it (`KafkaBusDeadLetter`), listed, shown and
/// re-driven to its original topic once, however often and from however many runs it is re-driven.
@Suite("storefront-admin: dead letters", .timeLimit(.minutes(5)))
struct DeadLetterTests {
    /// A `payment-events` event dead-lettered by `group`, as the consumer writes it; returns its id (DLQ offset).
    private func deadLetter(orderID: String, producer: KafkaBusProducer) async throws -> (Int64, KafkaBusMessage) {
        let event = PaymentEvent(
            .succeeded,
            orderId: orderID,
            userId: "u1",
            reservationId: "r1",
            amount: 12,
            method: "card",
            paymentId: "p-\(orderID)"
        )
        let headers = EventHeaders.make(
            version: PaymentEvent.schemaVersion,
            requestID: "req-\(orderID)",
            trace: ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]
        )
        let original = KafkaBusMessage(
            topic: Topics.paymentEvents.name,
            key: event.key,
            value: Array(try StorefrontJSON.encoder().encode(event)),
            headers: headers
        )
        var letter = original
        letter.topic = KafkaBusDeadLetter.topic(for: Topics.paymentEvents.name)
        letter.headers.merge([
            KafkaBusDeadLetter.Header.topic: Topics.paymentEvents.name,
            KafkaBusDeadLetter.Header.partition: "1",
            KafkaBusDeadLetter.Header.offset: "7",
            KafkaBusDeadLetter.Header.key: event.key,
            KafkaBusDeadLetter.Header.group: "order-service-payment-group",
            KafkaBusDeadLetter.Header.error: "order store refused the update",
            KafkaBusDeadLetter.Header.attempts: "5",
            KafkaBusDeadLetter.Header.failedAt: String(Int64(Date().timeIntervalSince1970 * 1000)),
        ]) { $1 }
        let report = try await producer.send(letter)
        return (report.offset, original)
    }

    @Test("dlq: listed pending; re-driven with --id twice, with --all, and by two runs at once: published once each")
    func redriveOnce() async throws {
        try await AdminTests.withAdmin { admin in
            try await AdminTests.withProducer { producer in
                let (first, firstOriginal) = try await self.deadLetter(orderID: "order-a", producer: producer)
                let (second, secondOriginal) = try await self.deadLetter(orderID: "order-b", producer: producer)

                let listed = try await admin.deadLetters(Topics.paymentEvents.name)
                #expect(listed.map(\.id) == [first, second])
                #expect(listed.allSatisfy { $0.state == .pending })
                #expect(listed[0].originalTopic == Topics.paymentEvents.name && listed[0].originalKey == "order-a")
                #expect(listed[0].summary.contains("order store refused the update"))
                // All dead-letter topics at once too.
                #expect(try await admin.deadLetters().map(\.id) == [first, second])

                // --id, twice in a row.
                let once = try await admin.redrive(Topics.paymentEvents.name, ids: [first], producer: producer)
                guard case .published? = once.first?.result else {
                    Issue.record("not published: \(once)")
                    return
                }
                let again = try await admin.redrive(Topics.paymentEvents.name, ids: [first], producer: producer)
                #expect(again == [.init(id: first, result: .skipped(.redriven))])

                // --all from two runs at the same moment: the second letter is published by exactly one of them.
                async let runA = admin.redrive(Topics.paymentEvents.name, ids: nil, producer: producer)
                async let runB = admin.redrive(
                    KafkaBusDeadLetter.topic(for: Topics.paymentEvents.name),
                    ids: nil,
                    producer: producer
                )
                let outcomes = try await runA + runB
                let published = outcomes.filter { if case .published = $0.result { true } else { false } }
                #expect(published.map(\.id) == [second], "\(outcomes)")

                // The original topic got each letter once: original key, value and headers, without the dlq-* ones.
                var redriven: [KafkaBusMessage] = []
                let ranges = try await admin.kafka.partitions(of: Topics.paymentEvents.name)
                try await admin.kafka.read(
                    topic: Topics.paymentEvents.name,
                    from: Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, $0.low) }),
                    to: Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, $0.high) })
                ) { message in
                    redriven.append(message)
                    return true
                }
                #expect(redriven.count == 2)
                for original in [firstOriginal, secondOriginal] {
                    let copies = redriven.filter { $0.key == original.key }
                    #expect(copies.count == 1)
                    #expect(copies.first?.value == original.value)
                    #expect(copies.first?.headers == original.headers)
                }

                let states = try await admin.deadLetters(Topics.paymentEvents.name)
                #expect(states.map(\.state) == [.redriven, .redriven])
                #expect(states.allSatisfy { $0.publishedAs?.hasPrefix(Topics.paymentEvents.name + "/") == true })
                #expect(try await admin.redrive(Topics.paymentEvents.name, ids: nil, producer: producer).isEmpty)
                #expect(
                    try await admin.redrive(Topics.paymentEvents.name, ids: [999], producer: producer)
                        == [.init(id: 999, result: .notFound)]
                )
            }
        }
    }

    @Test(
        "a message a real consumer gave up on lands in the DLQ; re-driven (twice) after the fault is gone, applied once"
    )
    func consumerDeadLetterRedriven() async throws {
        struct Fault: Error {}
        let runtime = try await TestRuntimes.make(
            .cart,
            overrides: ["kafka.handler.max.attempts": "2", "kafka.handler.retry.timeout.ms": "600000"]
        )
        let target = MongoObjectID().hex
        let faulty = Mutex(true)
        let applied = Mutex<[String]>([])
        let consumer = try runtime.makeConsumer(
            groupID: TestEnvironment.uniqueName("redrive-group"),
            handler: EventHandler(Topics.userCreated) { event, _ in
                if event.userId == target, faulty.withLock({ $0 }) { throw Fault() }
                applied.withLock { $0.append(event.userId) }
            }
        )
        let producer = try runtime.makeProducer()
        let event = UserCreatedEvent(email: "redrive@example.com", userId: target)
        try await withRunning([producer.run, consumer.run]) {
            try await AdminTests.withAdmin { admin in
                _ = try await producer.send(
                    KafkaBusMessage(
                        topic: Topics.userCreated.name,
                        key: target,
                        value: Array(try StorefrontJSON.encoder().encode(event))
                    )
                )
                #expect(
                    try await eventually(.seconds(60)) {
                        try await admin.deadLetters(Topics.userCreated.name).contains { $0.originalKey == target }
                    }
                )
                #expect(applied.withLock { $0.isEmpty })
                faulty.withLock { $0 = false }
                _ = try await admin.redrive(Topics.userCreated.name, ids: nil, producer: producer)
                _ = try await admin.redrive(Topics.userCreated.name, ids: nil, producer: producer)
                #expect(try await eventually(.seconds(60)) { applied.withLock { $0.contains(target) } })
                // A later event of the same key (same partition) is handled after any second copy would have been.
                let marker = UserCreatedEvent(email: "marker@example.com", userId: MongoObjectID().hex)
                _ = try await producer.send(
                    KafkaBusMessage(
                        topic: Topics.userCreated.name,
                        key: target,
                        value: Array(try StorefrontJSON.encoder().encode(marker))
                    )
                )
                #expect(try await eventually(.seconds(60)) { applied.withLock { $0.contains(marker.userId) } })
                #expect(applied.withLock { $0.filter { $0 == target }.count } == 1)
            }
        }
        await runtime.store.close()
    }
}
