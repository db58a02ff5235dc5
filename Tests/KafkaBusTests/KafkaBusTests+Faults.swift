import KafkaBus
import TestSupport
import Testing

/// Broker failures, on private dev brokers so that other tests never see them.
extension KafkaBusTests {
    @Test("sends while the broker is down either wait and succeed or fail retriably; retried, each is stored once")
    func brokerDownThenBack() async throws {
        try await DevBrokerProcess.with { broker in
            let topic = TestEnvironment.uniqueName("t")
            try await broker.createTopic(topic, partitions: 3)
            // A short message timeout, so that some sends time out during the 3 s outage.
            let configuration = Self.configuration(brokers: broker.bootstrap, messageTimeout: .milliseconds(2000))
            let producer = try KafkaBusProducer(configuration: configuration, logger: Self.logger)
            let (firstTry, afterRetries) = try await Self.withServices([producer]) {
                // Connected, producer id obtained, topic metadata known.
                _ = try await producer.send(KafkaBusMessage(topic: topic, key: "warm-up", value: Array("warm-up".utf8)))
                try await broker.setDown(broker: 1, seconds: 3)
                let start = ContinuousClock.now
                // Batch A right away (times out before the broker is back), batch B 1.5 s later (may still make it).
                let firstTry = await withTaskGroup(of: (Int, Outcome).self) { group in
                    for index in 0..<20 {
                        group.addTask {
                            if index >= 10 { try? await Task.sleep(until: start + .milliseconds(1500)) }
                            return (index, await Self.sendCatching(producer, topic: topic, index: index))
                        }
                    }
                    return await group.reduce(into: [Int: Outcome]()) { $0[$1.0] = $1.1 }
                }
                // Retry what failed, as a caller would.
                var afterRetries = firstTry
                for index in afterRetries.keys.sorted() {
                    guard case .failure(let error) = afterRetries[index] else { continue }
                    #expect(error.isRetriable, "\(index): \(String(reflecting: error))")
                    for _ in 0..<10 {
                        afterRetries[index] = await Self.sendCatching(producer, topic: topic, index: index)
                        if case .success = afterRetries[index] { break }
                        try await Task.sleep(for: .milliseconds(300))
                    }
                }
                return (firstTry, afterRetries)
            }
            let failedFirst = firstTry.filter { if case .failure = $0.value { true } else { false } }.keys
            #expect(failedFirst.contains { $0 < 10 }, "batch A outlives the 2 s message timeout")
            for (index, outcome) in afterRetries {
                #expect((try? outcome.get()) != nil, "message \(index) was not stored after retries")
            }

            let received = try await Self.consume(
                brokers: broker.bootstrap,
                topic: topic,
                groupID: TestEnvironment.uniqueName("g"),
                count: 21,
                settle: .seconds(1)
            )
            let texts = received.map(\.text).sorted()
            #expect(texts == (["warm-up"] + (0..<20).map { "m-\($0)" }).sorted(), "every message exactly once")
        }
    }

    @Test("injected NOT_LEADER_FOR_PARTITION produce errors are retried transparently, without duplicates")
    func produceErrorsAreRetried() async throws {
        try await DevBrokerProcess.with { broker in
            let topic = TestEnvironment.uniqueName("t")
            let controlTopic = TestEnvironment.uniqueName("t")
            try await broker.createTopic(topic, partitions: 1)
            try await broker.createTopic(controlTopic, partitions: 1)
            let producer = try KafkaBusProducer(
                configuration: Self.configuration(brokers: broker.bootstrap),
                logger: Self.logger
            )
            try await Self.withServices([producer]) {
                _ = try await producer.send(KafkaBusMessage(topic: topic, value: Array("warm-up".utf8)))
                _ = try await producer.send(KafkaBusMessage(topic: controlTopic, value: Array("warm-up".utf8)))

                // Control: the injection reaches our producer (a permanent error surfaces as `.rejected`). Another
                // topic, because librdkafka then remembers that topic as unauthorised for a while.
                try await broker.pushErrors(api: "produce", error: "TOPIC_AUTHORIZATION_FAILED", count: 1)
                let refused = await Self.sendCatching(producer, topic: controlTopic, index: -1)
                guard case .failure(let error) = refused else {
                    Issue.record("the injected permanent error did not reach the producer")
                    return
                }
                #expect(error.code == .rejected)
                #expect(!error.isRetriable)
                #expect(error.rdKafkaName == "TOPIC_AUTHORIZATION_FAILED")

                try await broker.pushErrors(api: "produce", error: "NOT_LEADER_FOR_PARTITION", count: 3)
                for index in 0..<5 {
                    let outcome = await Self.sendCatching(producer, topic: topic, index: index)
                    #expect((try? outcome.get()) != nil, "message \(index): \(outcome)")
                }
            }
            let received = try await Self.consume(
                brokers: broker.bootstrap,
                topic: topic,
                groupID: TestEnvironment.uniqueName("g"),
                count: 6,
                settle: .seconds(1)
            )
            #expect(received.map(\.text) == ["warm-up"] + (0..<5).map { "m-\($0)" }, "in order, each exactly once")
        }
    }

    @Test("cancelling the producer while the broker is down fails the pending sends with .shutdown at once")
    func cancellationFailsPendingSends() async throws {
        try await DevBrokerProcess.with { broker in
            let topic = TestEnvironment.uniqueName("t")
            try await broker.createTopic(topic, partitions: 1)
            let producer = try KafkaBusProducer(
                configuration: Self.configuration(brokers: broker.bootstrap),
                logger: Self.logger
            )
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await producer.run() }
                _ = try await producer.send(KafkaBusMessage(topic: topic, value: Array("warm-up".utf8)))
                try await broker.setDown(broker: 1)
                let pending = Task { await Self.sendCatching(producer, topic: topic, index: 0) }
                try await Task.sleep(for: .milliseconds(300))
                let cancelledAt = ContinuousClock.now
                tasks.cancelAll()
                try await tasks.waitForAll()
                let outcome = await pending.value
                // Well short of the 30 s message timeout, with room for a busy machine.
                #expect(ContinuousClock.now - cancelledAt < .seconds(20), "no wait for the 30 s message timeout")
                guard case .failure(let error) = outcome else {
                    Issue.record("a send to a down broker succeeded")
                    return
                }
                #expect(error.code == .shutdown)
            }
        }
    }

    typealias Outcome = Result<KafkaBusDeliveryReport, KafkaBusError>

    /// Sends `m-<index>` and returns the outcome instead of throwing.
    static func sendCatching(
        _ producer: KafkaBusProducer,
        topic: String,
        index: Int
    ) async -> Outcome {
        do {
            return .success(try await producer.send(KafkaBusMessage(topic: topic, value: Array("m-\(index)".utf8))))
        } catch let error as KafkaBusError {
            return .failure(error)
        } catch {
            return .failure(KafkaBusError(code: .unknown, message: "unexpected error type: \(error)"))
        }
    }
}
