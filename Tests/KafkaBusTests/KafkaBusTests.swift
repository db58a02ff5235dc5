import Foundation
import KafkaBus
import Logging
import ServiceLifecycle
import TestSupport
import Testing

/// KafkaBus against real brokers: the shared dev broker of `scripts/test` (`TestEnvironment.kafkaBrokers()`) and, for
/// fault injection, private dev brokers (`DevBrokerProcess`). Every test uses its own topics and consumer groups.
///
/// The tests are split over `KafkaBusTests+*.swift`; this file holds the shared helpers.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct KafkaBusTests {
    /// A logger for the clients under test: errors only, unless `LOG_LEVEL` asks for more.
    static let logger: Logger = {
        var logger = Logger(label: "kafka-bus-tests")
        logger.logLevel =
            ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
        return logger
    }()

    /// A configuration for `brokers` tuned for tests: fast reconnects, and a short session timeout because the mock
    /// cluster makes a joining member wait up to `session.timeout.ms - 1000` after another member left.
    /// `STOREFRONT_TEST_KAFKA_DEBUG=cgrp,topic` (librdkafka `debug` contexts) with `LOG_LEVEL=debug` traces a test.
    static func configuration(
        brokers: String,
        messageTimeout: Duration = .seconds(30)
    ) -> KafkaBusConfiguration {
        var configuration = KafkaBusConfiguration(brokers: brokers, clientID: "kafka-bus-tests")
        configuration.messageTimeout = messageTimeout
        configuration.sessionTimeout = .milliseconds(3000)
        configuration.retryBackoffMax = .milliseconds(400)
        configuration.additional = [
            "reconnect.backoff.ms": "50",
            "reconnect.backoff.max.ms": "500",
            "topic.metadata.refresh.interval.ms": "1000",
        ]
        if let contexts = ProcessInfo.processInfo.environment["STOREFRONT_TEST_KAFKA_DEBUG"] {
            configuration.additional["debug"] = contexts
        }
        return configuration
    }

    /// A topic with `partitions` partitions on the shared broker, created through its control API.
    static func sharedTopic(partitions: Int = 3) async throws -> String {
        let topic = TestEnvironment.uniqueName("t")
        try await DevBrokerControl(controlURL: try TestEnvironment.brokerControlURL())
            .createTopic(topic, partitions: partitions)
        return topic
    }

    /// Runs `services` in a `ServiceGroup` while `body` runs, then shuts them down gracefully and waits for them.
    static func withServices<T: Sendable>(
        _ services: [any Service],
        _ body: () async throws -> T
    ) async throws -> T {
        let group = ServiceGroup(
            services: services,
            gracefulShutdownSignals: [],
            cancellationSignals: [],
            logger: self.logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result<T, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    /// Sends `count` messages with values `prefix-0`, `prefix-1`, ... and keys `key-<i % 5>`, one after the other.
    static func sendMessages(
        _ producer: KafkaBusProducer,
        topic: String,
        count: Int,
        prefix: String = "m"
    ) async throws -> [KafkaBusDeliveryReport] {
        var reports: [KafkaBusDeliveryReport] = []
        for index in 0..<count {
            let message = KafkaBusMessage(
                topic: topic,
                key: "key-\(index % 5)",
                value: Array("\(prefix)-\(index)".utf8)
            )
            reports.append(try await producer.send(message))
        }
        return reports
    }

    /// Consumes `topic` with a new member of `groupID` until `count` messages arrived, then waits `settle` more for
    /// messages that should not come, shuts the consumer down gracefully and returns everything received in order.
    static func consume(
        brokers: String,
        topic: String,
        groupID: String,
        count: Int,
        settle: Duration = .milliseconds(500),
        timeout: Duration = .seconds(45)
    ) async throws -> [KafkaBusMessage] {
        let received = MessageLog()
        let consumer = try KafkaBusConsumer(
            configuration: self.configuration(brokers: brokers),
            groupID: groupID,
            topics: [topic],
            logger: self.logger
        ) { message in
            await received.append(message)
        }
        try await self.withServices([consumer]) {
            try await received.waitForCount(count, timeout: timeout)
            try await Task.sleep(for: settle)
        }
        return await received.messages
    }
}

/// Collects messages from a handler; tests wait on it.
actor MessageLog {
    private(set) var messages: [KafkaBusMessage] = []

    func append(_ message: KafkaBusMessage) {
        self.messages.append(message)
    }

    var count: Int { self.messages.count }

    /// Waits until at least `count` messages arrived.
    /// - Throws: `TimedOut` after `timeout`.
    func waitForCount(_ count: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while self.messages.count < count {
            guard ContinuousClock.now < deadline else {
                throw TimedOut(description: "received \(self.messages.count) of \(count) messages in \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// A wait that did not finish in time.
struct TimedOut: Error, CustomStringConvertible {
    let description: String
}

extension KafkaBusMessage {
    /// The value as UTF-8 text.
    var text: String { String(decoding: self.value, as: UTF8.self) }
}
