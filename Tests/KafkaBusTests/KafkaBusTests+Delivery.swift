import KafkaBus
import TestSupport
import Testing

/// Producing, consuming and committing against the shared dev broker.
extension KafkaBusTests {
    @Test("a sent message is acknowledged and consumed with key, value and headers intact")
    func sendAndConsume() async throws {
        let brokers = try TestEnvironment.kafkaBrokers()
        let topic = try await Self.sharedTopic()
        let producer = try KafkaBusProducer(configuration: Self.configuration(brokers: brokers), logger: Self.logger)
        let value: [UInt8] = Array(#"{"id":"u-1","email":"ada@example.com"}"#.utf8) + [0, 255, 10]
        let headers = ["event-type": "user-created", "event-version": "1", "trace": "é ✓"]

        let report = try await Self.withServices([producer]) {
            try await producer.send(KafkaBusMessage(topic: topic, key: "u-1", value: value, headers: headers))
        }
        #expect(report.topic == topic)
        #expect(report.partition >= 0)
        #expect(report.offset >= 0)

        let received = try await Self.consume(
            brokers: brokers,
            topic: topic,
            groupID: TestEnvironment.uniqueName("g"),
            count: 1
        )
        try #require(received.count == 1)
        let message = received[0]
        #expect(message.topic == topic)
        #expect(message.key == "u-1")
        #expect(message.value == value)
        #expect(message.headers == headers)
        #expect(message.partition == report.partition)
        #expect(message.offset == report.offset)
    }

    @Test("an idle producer and consumer are woken by librdkafka, not by their safety timer (set to 2 minutes here)")
    func wokenByLibrdkafka() async throws {
        let brokers = try TestEnvironment.kafkaBrokers()
        let topic = try await Self.sharedTopic()
        var configuration = Self.configuration(brokers: brokers)
        configuration.idleWait = .seconds(120)
        let received = MessageLog()
        let producer = try KafkaBusProducer(configuration: configuration, logger: Self.logger)
        let consumer = try KafkaBusConsumer(
            configuration: configuration,
            groupID: TestEnvironment.uniqueName("g"),
            topics: [topic],
            logger: Self.logger
        ) { message in
            await received.append(message)
        }
        try await Self.withServices([producer, consumer]) {
            for index in 1...3 {
                // Both loops are asleep by now (nothing arrived for 2 s); only librdkafka's signal can wake them
                // before their 120 s timer: the delivery report for the send, the message for the consumer.
                try await Task.sleep(for: .seconds(2))
                _ = try await Self.sendMessages(producer, topic: topic, count: 1, prefix: "wake-\(index)")
                try await received.waitForCount(index, timeout: .seconds(45))
            }
        }
        #expect(
            await received.messages.map { String(decoding: $0.value, as: UTF8.self) } == [
                "wake-1-0", "wake-2-0", "wake-3-0",
            ]
        )
    }

    @Test("a throwing handler is retried in place and commits nothing: the next member gets the same messages")
    func throwingHandlerDoesNotCommit() async throws {
        let brokers = try TestEnvironment.kafkaBrokers()
        let topic = try await Self.sharedTopic(partitions: 1)
        let groupID = TestEnvironment.uniqueName("g")
        let producer = try KafkaBusProducer(configuration: Self.configuration(brokers: brokers), logger: Self.logger)
        let reports = try await Self.withServices([producer]) {
            try await Self.sendMessages(producer, topic: topic, count: 2)
        }

        // First member: always fails. It must retry the first message in place and never reach the second.
        let attempts = MessageLog()
        let failing = try KafkaBusConsumer(
            configuration: Self.configuration(brokers: brokers),
            groupID: groupID,
            topics: [topic],
            logger: Self.logger
        ) { message in
            await attempts.append(message)
            throw TransientFailure()
        }
        try await Self.withServices([failing]) {
            try await attempts.waitForCount(3, timeout: .seconds(45))
        }
        let attempted = await attempts.messages
        #expect(attempted.allSatisfy { $0.offset == reports[0].offset && $0.text == "m-0" })

        // Second member of the same group: succeeds, and gets both messages from the start.
        let received = try await Self.consume(brokers: brokers, topic: topic, groupID: groupID, count: 2)
        #expect(received.map(\.offset) == reports.map(\.offset))
        #expect(received.map(\.text) == ["m-0", "m-1"])
    }

    @Test("a member closed after handling K of N messages, then restarted, gets exactly the other N-K")
    func gracefulCloseCommitsHandledMessages() async throws {
        let brokers = try TestEnvironment.kafkaBrokers()
        let topic = try await Self.sharedTopic(partitions: 3)
        let groupID = TestEnvironment.uniqueName("g")
        let total = 20
        let handledFirst = 7
        let producer = try KafkaBusProducer(configuration: Self.configuration(brokers: brokers), logger: Self.logger)
        let reports = try await Self.withServices([producer]) {
            try await Self.sendMessages(producer, topic: topic, count: total)
        }
        #expect(Set(reports.map(\.partition)).count > 1, "keys should spread the messages over several partitions")

        // First member: handles exactly K messages; any later call fails (so it cannot be committed) until the
        // graceful shutdown stops the consumer.
        let handled = MessageLog()
        let refused = MessageLog()
        let first = try KafkaBusConsumer(
            configuration: Self.configuration(brokers: brokers),
            groupID: groupID,
            topics: [topic],
            logger: Self.logger
        ) { message in
            if await handled.count < handledFirst {
                await handled.append(message)
            } else {
                await refused.append(message)
                throw TransientFailure()
            }
        }
        try await Self.withServices([first]) {
            try await handled.waitForCount(handledFirst, timeout: .seconds(45))
        }
        let firstMessages = await handled.messages
        #expect(firstMessages.count == handledFirst)

        let rest = try await Self.consume(brokers: brokers, topic: topic, groupID: groupID, count: total - handledFirst)
        let position = { (message: KafkaBusMessage) in "\(message.partition)/\(message.offset)" }
        #expect(rest.count == total - handledFirst, "nothing repeated")
        #expect(Set(firstMessages.map(position)).isDisjoint(with: rest.map(position)), "no message handled twice")
        #expect(Set(firstMessages.map(\.text) + rest.map(\.text)) == Set((0..<total).map { "m-\($0)" }), "none lost")
        #expect(Set(rest.map(position)).count == rest.count)
        // Per partition, the restart resumes right after the last handled offset.
        for partition in Set(reports.map(\.partition)) {
            let before = firstMessages.filter { $0.partition == partition }.map(\.offset)
            let after = rest.filter { $0.partition == partition }.map(\.offset)
            let expected = reports.filter { $0.partition == partition }.map(\.offset).sorted()
            #expect(before + after == expected, "partition \(partition): in order, no gap, no repeat")
        }
    }

    @Test("cancelling run() still commits, leaves the group and fails pending sends")
    func cancellationClosesCleanly() async throws {
        let brokers = try TestEnvironment.kafkaBrokers()
        let topic = try await Self.sharedTopic(partitions: 1)
        let groupID = TestEnvironment.uniqueName("g")
        let producer = try KafkaBusProducer(configuration: Self.configuration(brokers: brokers), logger: Self.logger)
        // Producer: run() cancelled (no graceful shutdown); it must still have delivered and then stop.
        let reports = try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await producer.run() }
            let reports = try await Self.sendMessages(producer, topic: topic, count: 6)
            tasks.cancelAll()
            try await tasks.waitForAll()
            return reports
        }
        let afterStop = await #expect(throws: KafkaBusError.self) {
            _ = try await producer.send(KafkaBusMessage(topic: topic, value: [1]))
        }
        #expect(afterStop?.code == .shutdown)
        #expect(afterStop?.isRetriable == false)

        // Consumer: handles 3; the 4th call waits until the cancellation interrupts it (so it fails, uncommitted).
        let handled = MessageLog()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let consumer = try KafkaBusConsumer(
                configuration: Self.configuration(brokers: brokers),
                groupID: groupID,
                topics: [topic],
                logger: Self.logger
            ) { message in
                guard await handled.count < 3 else {
                    try await Task.sleep(for: .seconds(120))
                    return
                }
                await handled.append(message)
            }
            tasks.addTask { try await consumer.run() }
            try await handled.waitForCount(3, timeout: .seconds(45))
            try await Task.sleep(for: .milliseconds(200))
            tasks.cancelAll()
            try await tasks.waitForAll()
        }
        let first = await handled.messages
        #expect(first.count == 3)

        // The next member resumes right after the last handled message: the cancelled run() committed.
        let rest = try await Self.consume(brokers: brokers, topic: topic, groupID: groupID, count: 3)
        #expect((first + rest).map(\.offset) == reports.map(\.offset))
        #expect((first + rest).map(\.text) == (0..<6).map { "m-\($0)" })
    }
}

/// A handler failure that asks for a retry.
struct TransientFailure: Error {}
