import Foundation
package import Logging
package import Metrics
import ServiceLifecycle
import Synchronization

/// Thrown by a handler for a message that handling again cannot help (it does not decode, or makes no sense): the
/// consumer dead-letters it at once instead of retrying.
package struct KafkaBusPoisonMessage: Error, CustomStringConvertible {
    /// Why the message cannot be handled.
    package let reason: String

    package init(_ reason: String) {
        self.reason = reason
    }

    package var description: String { self.reason }
}

/// A consumer-group member that hands each message to a handler and commits its offset only after the handler
/// returned normally, or after the message was dead-lettered (at-least-once delivery; nothing dropped silently).
///
/// Semantics:
/// - Messages are handled **one at a time**, in order, across all assigned partitions (a slow or failing message
///   holds back the others; per-key order is preserved).
/// - A throwing handler means "transient failure": the same message is retried in place with exponential backoff
///   (100 ms doubling up to `retryBackoffMax`), and nothing after it is handled or committed meanwhile, **for at most
///   `handlerMaxAttempts` attempts and `handlerRetryTimeout`**, whichever ends first. Then, or at once when the
///   handler throws ``KafkaBusPoisonMessage``, the message goes to its dead-letter topic `<topic>.dlq`
///   (``KafkaBusDeadLetter``: same key and value, its headers plus where it came from, the group, the error and the
///   attempts) and the consumer commits past it. A dead letter that cannot be written (broker down) is retried until
///   it is: the message is never dropped. Without a `deadLetters` producer the consumer retries forever and skips a
///   poison message with an error log (libraries and tests only; services always dead-letter).
/// - Handlers must be idempotent (a crash between handling and committing redelivers; dead letters are re-driven).
/// - On graceful shutdown or cancellation of ``run()``: no further handler call starts (a running one finishes; a
///   retry backoff is cut short), the offsets of the handled messages are committed, the consumer leaves the group
///   (`rd_kafka_consumer_close`) and `run()` returns. A restart with the same group resumes right after the last
///   handled message.
///
/// Metrics (swift-metrics, dimensions `group` and `topic`): `storefront_events_handled_total`,
/// `storefront_events_retried_total`, `storefront_events_dead_lettered_total`, the handler's latency
/// `storefront_event_handler_duration_seconds` and `storefront_consumer_lag` (messages behind the partitions' high
/// watermarks as last fetched, summed over this member's partitions).
///
/// librdkafka properties: `bootstrap.servers`, `client.id`, `group.id`, `enable.auto.commit=true`,
/// `enable.auto.offset.store=false` (offsets are stored with `rd_kafka_offsets_store` after the handler succeeds and
/// auto-committed every `auto.commit.interval.ms`, ``KafkaBusConfiguration/autoCommitInterval``),
/// `auto.offset.reset=earliest`, `session.timeout.ms`,
/// `heartbeat.interval.ms` (a third of the session timeout, at most 3000), `fetch.wait.max.ms`, `log.queue=true`, then
/// ``KafkaBusConfiguration/additional``.
///
/// Threads: none of its own. The loop polls with a zero timeout (`rd_kafka_consumer_poll(…, 0)` returns at once) and,
/// when nothing is there, sleeps until librdkafka signals that its queue received something (or at most
/// ``KafkaBusConfiguration/idleWait``); the blocking calls (commit, close, metadata) run on KafkaBus's shared blocking pool. The handler
/// runs as ordinary async code, with the message already copied into Swift values.
///
/// Thread-safe: the lifecycle and the lag table are in `Mutex`es; everything else is immutable.
package final class KafkaBusConsumer: Service, Sendable {
    private enum Lifecycle: Sendable {
        case idle
        case running
        case stopping
        case stopped
    }

    private static let initialBackoff: Duration = .milliseconds(100)

    private let client: RDKafkaClient
    private let executor: BlockingExecutor
    private let lifecycle = Mutex(Lifecycle.idle)
    /// The subscribed topics as named on the cluster (``KafkaBusConfiguration/topicPrefix`` applied).
    private let topics: [String]
    private let configuration: KafkaBusConfiguration
    private let groupID: String
    private let handler: @Sendable (KafkaBusMessage) async throws -> Void
    private let retryBackoffMax: Duration
    private let maxAttempts: Int
    private let retryTimeout: Duration
    private let deadLetters: KafkaBusProducer?
    private let commitTimeout: Duration
    private let logger: Logger
    private let metrics: ConsumerMetrics
    /// Messages behind, per partition of each topic (physical names), for the lag gauge.
    private let lag = Mutex<[String: [Int32: Int64]]>([:])

    /// Creates the consumer; it joins the group only when ``run()`` starts. Non-blocking.
    /// - Parameters:
    ///   - configuration: Brokers, client id, `sessionTimeout`, `retryBackoffMax`, `additional` properties.
    ///   - groupID: The consumer group: members of one group share the partitions; each group sees every message.
    ///   - topics: The topics to subscribe to, by logical name (the configuration's `topicPrefix` is added here and
    ///     removed from the messages handed to `handler`).
    ///   - logger: Receives librdkafka's log lines (forwarded, never written to stderr) and handler failures.
    ///   - deadLetters: Where messages the consumer gives up on are written (their `<topic>.dlq`, same prefix); it
    ///     must be running while the consumer runs (start it before, stop it after). `nil`: retry forever.
    ///   - metrics: Where the consumer's metrics go (see the type's documentation).
    ///   - handler: Called with each message, on the cooperative pool. Return normally to commit it; throw to retry
    ///     it, ``KafkaBusPoisonMessage`` to dead-letter it (see the type's documentation).
    /// - Throws: ``KafkaBusError`` `.configuration` when librdkafka refuses a property or `topics` is empty.
    package init(
        configuration: KafkaBusConfiguration,
        groupID: String,
        topics: [String],
        logger: Logger,
        deadLetters: KafkaBusProducer? = nil,
        metrics: any MetricsFactory = MetricsSystem.factory,
        handler: @escaping @Sendable (KafkaBusMessage) async throws -> Void
    ) throws {
        guard !topics.isEmpty else {
            throw KafkaBusError.configuration("a consumer needs at least one topic")
        }
        let sessionTimeout = configuration.sessionTimeout.clampedMilliseconds
        var properties: [(name: String, value: String)] = [
            ("bootstrap.servers", configuration.brokers),
            ("client.id", configuration.clientID),
            ("group.id", groupID),
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "false"),
            ("auto.commit.interval.ms", String(configuration.autoCommitInterval.clampedMilliseconds)),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", String(sessionTimeout)),
            ("heartbeat.interval.ms", String(max(1, min(3000, sessionTimeout / 3)))),
            ("fetch.wait.max.ms", String(configuration.fetchWaitMax.clampedMilliseconds)),
        ]
        properties += configuration.additional.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        var logger = logger
        logger[metadataKey: "kafka.group"] = "\(groupID)"
        self.client = try RDKafkaClient(kind: .consumer, properties: properties, logger: logger)
        self.executor = BlockingExecutor.shared()
        self.topics = topics.map(configuration.physicalTopic)
        self.configuration = configuration
        self.groupID = groupID
        self.handler = handler
        self.retryBackoffMax = configuration.retryBackoffMax
        self.maxAttempts = configuration.handlerMaxAttempts
        self.retryTimeout = configuration.handlerRetryTimeout
        self.deadLetters = deadLetters
        self.commitTimeout = configuration.sessionTimeout
        self.logger = logger
        self.metrics = ConsumerMetrics(groupID: groupID, topics: topics, factory: metrics)
    }

    /// Asks the cluster for metadata and returns when a broker answered: the check behind `/ready`.
    ///
    /// Runs on KafkaBus's blocking pool (not the cooperative pool) and waits at most `timeout`, even if the calling
    /// task is cancelled. Works before and during ``run()``.
    /// - Parameter timeout: How long to wait for an answer.
    /// - Throws: ``KafkaBusError`` `.unavailable` when no broker answered within `timeout`; `.shutdown` after `run()`
    ///   returned.
    package func checkReachable(timeout: Duration) async throws {
        let milliseconds = timeout.clampedMilliseconds
        try await self.executor.run { [client = self.client] in
            try client.requestMetadata(timeout: milliseconds)
        }
    }

    /// Subscribes, then polls and handles messages until graceful shutdown or cancellation; then commits, leaves the
    /// group and stops the consumer's threads.
    ///
    /// Returns normally on shutdown or cancellation.
    /// - Throws: ``KafkaBusError`` when subscribing fails, on a fatal librdkafka error (after closing), or `.unknown`
    ///   if called a second time.
    package func run() async throws {
        try self.lifecycle.withLock { lifecycle in
            guard lifecycle == .idle else {
                throw KafkaBusError(code: .unknown, message: "KafkaBusConsumer.run() called more than once")
            }
            lifecycle = .running
        }
        var failure: (any Error)?
        do {
            try await self.executor.run { [client = self.client, topics = self.topics] in
                try client.subscribe(topics: topics)
            }
            self.logger.debug("Kafka consumer subscribed", metadata: ["kafka.topics": "\(self.topics)"])
            try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    try await self.consumeUntilStopped()
                } onGracefulShutdown: {
                    self.requestStop()
                }
            } onCancel: {
                self.requestStop()
            }
        } catch {
            failure = error
        }
        await self.close()
        await self.executor.shutdown()
        self.lifecycle.withLock { $0 = .stopped }
        self.logger.debug("Kafka consumer stopped")
        if let failure {
            throw failure
        }
    }

    private func requestStop() {
        self.lifecycle.withLock { lifecycle in
            if lifecycle == .running || lifecycle == .idle {
                lifecycle = .stopping
            }
        }
        self.client.wakeup.signal()
    }

    private var isStopping: Bool {
        self.lifecycle.withLock { $0 != .running }
    }

    private func consumeUntilStopped() async throws {
        while !self.isStopping {
            switch self.client.consumerPoll(timeout: 0) {
            case .idle:
                await self.client.wakeup.wait(atMost: self.configuration.idleWait)
            case .message(let message):
                await self.handle(message)
            case .error(let error):
                if error.isFatal {
                    self.logger.error("Kafka consumer failed", metadata: ["error": "\(error)"])
                    throw error
                }
                self.logger.warning("Kafka consumer error (librdkafka retries)", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Calls the handler until it succeeds, the message is dead-lettered, or shutdown begins; then stores the offset.
    private func handle(_ message: KafkaBusMessage) async {
        var logical = message
        logical.topic = self.configuration.logicalTopic(message.topic)
        self.updateLag(message, handled: false)
        let started = ContinuousClock.now
        var backoff = Self.initialBackoff
        var attempt = 1
        while !self.isStopping {
            let attemptStarted = ContinuousClock.now
            do {
                try await self.handler(logical)
                self.metrics.handled(logical.topic, in: ContinuousClock.now - attemptStarted)
                self.storeOffset(after: message)
                return
            } catch {
                self.metrics.timed(logical.topic, in: ContinuousClock.now - attemptStarted)
                let isPoison = error is KafkaBusPoisonMessage
                let elapsed = ContinuousClock.now - started
                if let deadLetters = self.deadLetters,
                    isPoison || attempt >= self.maxAttempts || elapsed >= self.retryTimeout
                {
                    guard await self.deadLetter(logical, error: error, attempts: attempt, via: deadLetters) else {
                        return  // stopping: not committed, so redelivered after the restart
                    }
                    self.storeOffset(after: message)
                    return
                }
                if isPoison {
                    self.logger.error(
                        "Kafka message cannot be handled; skipping it (no dead-letter topic)",
                        metadata: self.describe(message, error)
                    )
                    self.storeOffset(after: message)
                    return
                }
                var metadata = self.describe(message, error)
                metadata["kafka.attempt"] = "\(attempt)"
                metadata["kafka.retry_in_ms"] = "\(backoff.clampedMilliseconds)"
                self.logger.warning("Kafka message handler failed; retrying", metadata: metadata)
                self.metrics.retried(logical.topic)
                // The last wait ends at the retry deadline, so the bound holds; cut short by graceful shutdown.
                let wait = self.deadLetters == nil ? backoff : max(.zero, min(backoff, self.retryTimeout - elapsed))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                backoff = min(backoff * 2, self.retryBackoffMax)
                attempt += 1
            }
        }
    }

    /// Writes `message` to its dead-letter topic, retrying (with backoff) until the broker took it or shutdown begins.
    /// - Returns: whether it was written.
    private func deadLetter(
        _ message: KafkaBusMessage,
        error: any Error,
        attempts: Int,
        via producer: KafkaBusProducer
    ) async -> Bool {
        var letter = KafkaBusMessage(
            topic: KafkaBusDeadLetter.topic(for: message.topic),
            key: message.key,
            value: message.value,
            headers: message.headers
        )
        letter.headers[KafkaBusDeadLetter.Header.topic] = message.topic
        letter.headers[KafkaBusDeadLetter.Header.partition] = String(message.partition)
        letter.headers[KafkaBusDeadLetter.Header.offset] = String(message.offset)
        letter.headers[KafkaBusDeadLetter.Header.key] = message.key
        letter.headers[KafkaBusDeadLetter.Header.group] = self.groupID
        letter.headers[KafkaBusDeadLetter.Header.error] = String("\(error)".prefix(1000))
        letter.headers[KafkaBusDeadLetter.Header.attempts] = String(attempts)
        letter.headers[KafkaBusDeadLetter.Header.failedAt] = String(Int64(Date().timeIntervalSince1970 * 1000))
        var backoff = Self.initialBackoff
        while !self.isStopping {
            do {
                let report = try await producer.send(letter)
                var metadata = self.describe(message, error)
                metadata["kafka.attempts"] = "\(attempts)"
                metadata["kafka.dead_letter"] = "\(report.topic)/\(report.partition)/\(report.offset)"
                self.logger.error("Kafka message dead-lettered", metadata: metadata)
                self.metrics.deadLettered(message.topic)
                return true
            } catch {
                self.logger.error(
                    "Kafka dead letter not written; retrying",
                    metadata: ["kafka.topic": "\(letter.topic)", "error": "\(error)"]
                )
                try? await cancelWhenGracefulShutdown { [backoff] in try await Task.sleep(for: backoff) }
                backoff = min(backoff * 2, self.retryBackoffMax)
            }
        }
        return false
    }

    /// Marks `message` handled: its offset + 1 is committed with the next commit.
    private func storeOffset(after message: KafkaBusMessage) {
        self.updateLag(message, handled: true)
        do {
            try self.client.storeOffset(topic: message.topic, partition: message.partition, offset: message.offset + 1)
        } catch {
            // E.g. the partition was revoked while the handler ran: its new owner will redeliver the message.
            self.logger.warning("Kafka offset not stored", metadata: self.describe(message, error))
        }
    }

    /// Updates the lag gauge from the partition's last fetched high watermark.
    private func updateLag(_ message: KafkaBusMessage, handled: Bool) {
        guard let high = self.client.cachedHighWatermark(topic: message.topic, partition: message.partition) else {
            return
        }
        let behind = max(0, high - message.offset - (handled ? 1 : 0))
        let total = self.lag.withLock { lag in
            lag[message.topic, default: [:]][message.partition] = behind
            return lag[message.topic]!.values.reduce(0, +)
        }
        self.metrics.lag(self.configuration.logicalTopic(message.topic), total)
    }

    private func describe(_ message: KafkaBusMessage, _ error: any Error) -> Logger.Metadata {
        [
            "kafka.topic": "\(message.topic)", "kafka.partition": "\(message.partition)",
            "kafka.offset": "\(message.offset)", "error": "\(error)",
        ]
    }

    /// Commits what was handled and leaves the group, on a consumer thread; runs even when `run()` was cancelled.
    private func close() async {
        let commitTimeout = self.commitTimeout.clampedMilliseconds
        do {
            try await self.executor.run { [client = self.client, logger = self.logger] in
                do {
                    try client.commitStoredOffsets(timeout: commitTimeout)
                } catch {
                    logger.warning("Kafka final commit failed", metadata: ["error": "\(error)"])
                }
                try client.consumerClose()
            }
        } catch {
            self.logger.warning("Kafka consumer close failed", metadata: ["error": "\(error)"])
        }
    }
}

/// The consumer's metrics, made once per topic.
private struct ConsumerMetrics: Sendable {
    private struct TopicMetrics: Sendable {
        let handled: Counter
        let retried: Counter
        let deadLettered: Counter
        let duration: Timer
        let lag: Gauge
    }

    private let byTopic: [String: TopicMetrics]

    init(groupID: String, topics: [String], factory: any MetricsFactory) {
        var byTopic: [String: TopicMetrics] = [:]
        for topic in topics {
            let dimensions = [("group", groupID), ("topic", topic)]
            byTopic[topic] = TopicMetrics(
                handled: Counter(label: "storefront_events_handled_total", dimensions: dimensions, factory: factory),
                retried: Counter(label: "storefront_events_retried_total", dimensions: dimensions, factory: factory),
                deadLettered: Counter(
                    label: "storefront_events_dead_lettered_total",
                    dimensions: dimensions,
                    factory: factory
                ),
                duration: Timer(
                    label: "storefront_event_handler_duration_seconds",
                    dimensions: dimensions,
                    preferredDisplayUnit: .seconds,
                    factory: factory
                ),
                lag: Gauge(label: "storefront_consumer_lag", dimensions: dimensions, factory: factory)
            )
        }
        self.byTopic = byTopic
    }

    func handled(_ topic: String, in duration: Duration) {
        self.byTopic[topic]?.handled.increment()
        self.timed(topic, in: duration)
    }

    func timed(_ topic: String, in duration: Duration) {
        self.byTopic[topic]?.duration.recordNanoseconds(Self.nanoseconds(duration))
    }

    func retried(_ topic: String) { self.byTopic[topic]?.retried.increment() }
    func deadLettered(_ topic: String) { self.byTopic[topic]?.deadLettered.increment() }
    func lag(_ topic: String, _ value: Int64) { self.byTopic[topic]?.lag.record(value) }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
