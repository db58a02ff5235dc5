import Foundation
package import Logging
import ServiceLifecycle
import Synchronization

/// Reads every partition of some topics from their end onwards, without a consumer group: for state that **every**
/// instance of a service must see (a view fed by events), where a group would split the partitions between instances.
///
/// Semantics:
/// - ``run()`` asks the cluster for the topics' partitions and their high watermarks (retrying with backoff until a
///   broker answers), assigns exactly those offsets (`rd_kafka_assign`), sets ``isLive`` and then hands every later
///   message, in order per partition, to the handler. Messages written before that moment are never seen: a reader
///   starts from "now", and its owner fills its state from the source of truth on demand.
/// - Nothing is committed and no group is joined (a private `group.id` that librdkafka requires to poll is never
///   used), so instances never disturb each other and a restart starts again from the end.
/// - The handler cannot fail the reader: it must deal with what it is given (an undecodable message is its own
///   business to log and skip).
/// - While the brokers are down librdkafka reconnects by itself and resumes from the position it had.
/// - On graceful shutdown or cancellation: no further handler call starts, the client closes and `run()` returns.
///
/// Threads: none of its own. Messages are polled with a zero timeout and the loop sleeps on the client's
/// `QueueWakeup` in between, as ``KafkaBusConsumer`` does; the calls that wait (metadata, watermarks, close) run on the
/// process's shared `BlockingExecutor`; the handler runs on the cooperative pool. Thread-safe.
package final class KafkaBusReader: Service, Sendable {
    /// The longest sleep between polls when librdkafka signals nothing (a safety net, not how messages are found).
    private static let idleWait: Duration = .seconds(5)
    private static let requestTimeout: Int32 = 5000

    private let client: RDKafkaClient
    private let executor = BlockingExecutor.shared()
    private let configuration: KafkaBusConfiguration
    /// Logical topic names.
    private let topics: [String]
    private let logger: Logger
    private let handler: @Sendable (KafkaBusMessage) async -> Void
    private let stopped = Atomic<Bool>(false)
    private let live = Atomic<Bool>(false)

    /// Creates the reader; it connects only when ``run()`` starts. Non-blocking.
    /// - Parameters:
    ///   - configuration: Brokers, client id, `topicPrefix`, `additional` properties (the group settings are unused).
    ///   - topics: Logical topic names; the messages handed to `handler` carry these names.
    ///   - logger: Receives librdkafka's log lines and the reader's own warnings.
    ///   - handler: Called with each message, on the cooperative pool, one at a time.
    /// - Throws: ``KafkaBusError`` `.configuration` when librdkafka refuses a property or `topics` is empty.
    package init(
        configuration: KafkaBusConfiguration,
        topics: [String],
        logger: Logger,
        handler: @escaping @Sendable (KafkaBusMessage) async -> Void
    ) throws {
        guard !topics.isEmpty else { throw KafkaBusError.configuration("a reader needs at least one topic") }
        var properties: [(name: String, value: String)] = [
            ("bootstrap.servers", configuration.brokers),
            ("client.id", configuration.clientID),
            // Required to poll, never joined: the reader assigns its partitions itself.
            ("group.id", "kafka-bus-reader-\(UUID().uuidString.lowercased())"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("fetch.wait.max.ms", String(configuration.fetchWaitMax.clampedMilliseconds)),
        ]
        properties += configuration.additional.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        self.client = try RDKafkaClient(kind: .consumer, properties: properties, logger: logger)
        self.configuration = configuration
        self.topics = topics
        self.logger = logger
        self.handler = handler
    }

    /// Whether the reader is assigned and every message written from now on will reach the handler.
    package var isLive: Bool { self.live.load(ordering: .acquiring) }

    /// Assigns the topics' partitions at their current end, then reads until graceful shutdown or cancellation (see
    /// the type's documentation). Returns normally then.
    /// - Throws: ``KafkaBusError`` on a fatal librdkafka error.
    package func run() async throws {
        var failure: (any Error)?
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                do {
                    try await self.assignAtEnd()
                    try await self.readUntilStopped()
                } catch {
                    failure = error
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        self.live.store(false, ordering: .releasing)
        try? await self.executor.run { [client = self.client] in try client.consumerClose() }
        await self.executor.shutdown()
        if let failure, !(failure is CancellationError) { throw failure }
    }

    private var isStopped: Bool { self.stopped.load(ordering: .acquiring) }

    private func stop() {
        self.stopped.store(true, ordering: .releasing)
        self.client.wakeup.signal()
    }

    /// Assigns every partition of the topics at its high watermark; retries (100 ms doubling up to 5 s) until a broker
    /// answers or the reader stops.
    private func assignAtEnd() async throws {
        var backoff: Duration = .milliseconds(100)
        let physical = self.topics.map(self.configuration.physicalTopic)
        while !self.isStopped {
            do {
                try await self.executor.run { [client = self.client] in
                    let known = Dictionary(
                        try client.topicPartitions(timeout: Self.requestTimeout).map { ($0.name, $0.partitions) }
                    ) { first, _ in first }
                    var start: [RDKafkaClient.PartitionOffset] = []
                    for topic in physical {
                        guard let partitions = known[topic], !partitions.isEmpty else {
                            throw KafkaBusError.unavailable("topic \(topic) does not exist (yet)")
                        }
                        for partition in partitions {
                            let end = try client.watermarks(
                                topic: topic,
                                partition: partition,
                                timeout: Self.requestTimeout
                            )
                            start.append(.init(topic: topic, partition: partition, offset: end.high))
                        }
                    }
                    try client.assign(start)
                }
                self.live.store(true, ordering: .releasing)
                self.logger.debug("Kafka reader assigned at the end", metadata: ["kafka.topics": "\(physical)"])
                return
            } catch {
                self.logger.warning(
                    "Kafka reader cannot assign its partitions yet; retrying",
                    metadata: ["error": "\(error)", "kafka.retry_in_ms": "\(backoff.clampedMilliseconds)"]
                )
                try? await cancelWhenGracefulShutdown { [backoff] in try await Task.sleep(for: backoff) }
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    private func readUntilStopped() async throws {
        while !self.isStopped {
            switch self.client.consumerPoll(timeout: 0) {
            case .idle:
                await self.client.wakeup.wait(atMost: Self.idleWait)
            case .message(var message):
                message.topic = self.configuration.logicalTopic(message.topic)
                await self.handler(message)
            case .error(let error):
                if error.isFatal {
                    self.logger.error("Kafka reader failed", metadata: ["error": "\(error)"])
                    throw error
                }
                self.logger.debug("Kafka reader error (librdkafka retries)", metadata: ["error": "\(error)"])
            }
        }
    }
}
