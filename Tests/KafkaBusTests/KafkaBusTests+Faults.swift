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
            let outcomes = try await Self.withServices([producer]) {
                // Connected, producer id obtained, topic metadata known.
                _ = try await producer.send(KafkaBusMessage(topic: topic, key: "warm-up", value: Array("warm-up".utf8)))
                try await broker.setDown(broker: 1, seconds: 3)
                let start = ContinuousClock.now
                // Batch A right away (times out before the broker is back), batch B 1.5 s later (may still make it).
                let outcomes = await withTaskGroup(of: (Int, Result<KafkaBusDeliveryReport, KafkaBusError>).self) {
                    group in
                    for index in 0..<20 {
                        group.addTask {
                            if index >= 10 { try? await Task.sleep(until: start + .milliseconds(1500)) }
                            return (index, await Self.sendCatching(producer, topic: topic, index: index))
                        }
                    }
                    return await group.reduce(into: [Int: Result<KafkaBusDeliveryReport, KafkaBusError>]()) {
                        $0[$1.0] = $1.1
                    }
                }
                // Retry what failed, as a caller would.
                var final = outcomes
                for index in final.keys.sorted() {
                    guard case .failure(let error) = final[index] else { continue }
                    #expect(error.isRetriable, "\(index): \(String(reflecting: error))")
                    for _ in 0..<10 {
                        final[index] = await Self.sendCatching(producer, topic: topic, index: index)
                        if case .success = final[index] { break }
                        try await Task.sleep(for: .milliseconds(300))
                    }
                }
                return (outcomes, final)
            }
            let failedFirst = outcomes.0.values.filter { if case .failure = $0 { true } else { false } }
            #expect(!failedFirst.isEmpty, "the sends of batch A outlive the 2 s message timeout")
            for (index, outcome) in outcomes.1 {
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
            try await broker.createTopic(topic, partitions: 1)
            let producer = try KafkaBusProducer(
                configuration: Self.configuration(brokers: broker.bootstrap),
                logger: Self.logger
            )
            try await Self.withServices([producer]) {
                _ = try await producer.send(KafkaBusMessage(topic: topic, value: Array("warm-up".utf8)))

                // Control: the injection reaches our producer (a permanent error surfaces as `.rejected`).
                try await broker.pushErrors(api: "produce", error: "TOPIC_AUTHORIZATION_FAILED", count: 1)
                let refused = await Self.sendCatching(producer, topic: topic, index: -1)
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
                #expect(ContinuousClock.now - cancelledAt < .seconds(5), "no wait for the 30 s message timeout")
                guard case .failure(let error) = outcome else {
                    Issue.record("a send to a down broker succeeded")
                    return
                }
                #expect(error.code == .shutdown)
            }
        }
    }

    /// Sends `m-<index>` and returns the outcome instead of throwing.
    static func sendCatching(
        _ producer: KafkaBusProducer,
        topic: String,
        index: Int
    ) async -> Result<KafkaBusDeliveryReport, KafkaBusError> {
        do {
            return .success(try await producer.send(KafkaBusMessage(topic: topic, value: Array("m-\(index)".utf8))))
        } catch let error as KafkaBusError {
            return .failure(error)
        } catch {
            return .failure(KafkaBusError(code: .unknown, message: "unexpected error type: \(error)"))
        }
    }
}
