package import Logging
import ServiceLifecycle
import Synchronization

/// A consumer-group member that hands each message to a handler and commits its offset only after the handler
/// returned normally (at-least-once delivery).
///
/// Semantics:
/// - Messages are handled **one at a time**, in order, across all assigned partitions (a slow or failing message
///   holds back the others; per-key order is preserved).
/// - A throwing handler means "transient failure": the same message is retried in place with exponential backoff
///   (100 ms doubling up to `retryBackoffMax`), and nothing after it is handled or committed meanwhile. A handler
///   that keeps failing longer than librdkafka's `max.poll.interval.ms` (default 300000; set it through `additional`)
///   makes the consumer leave the group, and the message is redelivered after the rebalance.
/// - Handlers must be idempotent (a crash between handling and committing redelivers) and must swallow and log
///   permanent failures such as undecodable payloads, or the consumer retries them forever.
/// - On graceful shutdown or cancellation of ``run()``: no further handler call starts (a running one finishes; a
///   retry backoff is cut short), the offsets of the handled messages are committed, the consumer leaves the group
///   (`rd_kafka_consumer_close`) and `run()` returns. A restart with the same group resumes right after the last
///   handled message.
///
/// librdkafka properties: `bootstrap.servers`, `client.id`, `group.id`, `enable.auto.commit=true`,
/// `enable.auto.offset.store=false` (offsets are stored with `rd_kafka_offsets_store` after the handler succeeds and
/// auto-committed every `auto.commit.interval.ms`, ``KafkaBusConfiguration/autoCommitInterval``),
/// `auto.offset.reset=earliest`, `session.timeout.ms`,
/// `heartbeat.interval.ms` (a third of the session timeout, at most 3000), `log.queue=true`, then
/// ``KafkaBusConfiguration/additional``.
///
/// Threads: the blocking calls (`rd_kafka_consumer_poll` with a 100 ms timeout, commit, close, metadata) run on a
/// private two-thread `NIOThreadPool`; the handler runs on the cooperative pool as ordinary async code, with the
/// message already copied into Swift values.
///
/// Thread-safe: the lifecycle is in a `Mutex`; everything else is immutable.
package final class KafkaBusConsumer: Service, Sendable {
    private enum Lifecycle: Sendable {
        case idle
        case running
        case stopping
        case stopped
    }

    /// How long one blocking poll waits for a message (bounds shutdown latency).
    private static let pollTimeout: Int32 = 100
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
    private let commitTimeout: Duration
    private let logger: Logger

    /// Creates the consumer; it joins the group only when ``run()`` starts. Non-blocking.
    /// - Parameters:
    ///   - configuration: Brokers, client id, `sessionTimeout`, `retryBackoffMax`, `additional` properties.
    ///   - groupID: The consumer group: members of one group share the partitions; each group sees every message.
    ///   - topics: The topics to subscribe to, by logical name (the configuration's `topicPrefix` is added here and
    ///     removed from the messages handed to `handler`).
    ///   - logger: Receives librdkafka's log lines (forwarded, never written to stderr) and handler failures.
    ///   - handler: Called with each message, on the cooperative pool. Return normally to commit it; throw to retry
    ///     it (see the type's documentation).
    /// - Throws: ``KafkaBusError`` `.configuration` when librdkafka refuses a property or `topics` is empty.
    package init(
        configuration: KafkaBusConfiguration,
        groupID: String,
        topics: [String],
        logger: Logger,
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
        ]
        properties += configuration.additional.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        var logger = logger
        logger[metadataKey: "kafka.group"] = "\(groupID)"
        self.client = try RDKafkaClient(kind: .consumer, properties: properties, logger: logger)
        self.executor = BlockingExecutor(numberOfThreads: 2)
        self.topics = topics.map(configuration.physicalTopic)
        self.configuration = configuration
        self.groupID = groupID
        self.handler = handler
        self.retryBackoffMax = configuration.retryBackoffMax
        self.commitTimeout = configuration.sessionTimeout
        self.logger = logger
    }

    deinit {
        // Frees only: stopping threads that run() did not stop (run() never ran). Returns at once.
        self.executor.shutdownInBackground()
    }

    /// Asks the cluster for metadata and returns when a broker answered: the check behind `/ready`.
    ///
    /// Runs on the consumer's own thread (not the cooperative pool) and waits at most `timeout`, even if the calling
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
    }

    private var isStopping: Bool {
        self.lifecycle.withLock { $0 != .running }
    }

    private func consumeUntilStopped() async throws {
        while !self.isStopping {
            let result = try await self.executor.run { [client = self.client] in
                client.consumerPoll(timeout: Self.pollTimeout)
            }
            switch result {
            case .idle:
                continue
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

    /// Calls the handler until it succeeds or shutdown begins; stores the offset after a success.
    private func handle(_ message: KafkaBusMessage) async {
        var backoff = Self.initialBackoff
        var attempt = 1
        var logical = message
        logical.topic = self.configuration.logicalTopic(message.topic)
        while !self.isStopping {
            do {
                try await self.handler(logical)
            } catch {
                self.logger.warning(
                    "Kafka message handler failed; retrying",
                    metadata: [
                        "kafka.topic": "\(message.topic)", "kafka.partition": "\(message.partition)",
                        "kafka.offset": "\(message.offset)", "kafka.attempt": "\(attempt)",
                        "kafka.retry_in_ms": "\(backoff.clampedMilliseconds)", "error": "\(error)",
                    ]
                )
                // Cut short by graceful shutdown or cancellation; the loop condition then ends the retries.
                try? await cancelWhenGracefulShutdown { [backoff] in try await Task.sleep(for: backoff) }
                backoff = min(backoff * 2, self.retryBackoffMax)
                attempt += 1
                continue
            }
            do {
                try self.client.storeOffset(
                    topic: message.topic,
                    partition: message.partition,
                    offset: message.offset + 1
                )
            } catch {
                // E.g. the partition was revoked while the handler ran: its new owner will redeliver the message.
                self.logger.warning(
                    "Kafka offset not stored",
                    metadata: [
                        "kafka.topic": "\(message.topic)", "kafka.partition": "\(message.partition)",
                        "kafka.offset": "\(message.offset)", "error": "\(error)",
                    ]
                )
            }
            return
        }
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
