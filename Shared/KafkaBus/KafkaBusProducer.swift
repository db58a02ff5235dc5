package import Logging
import ServiceLifecycle
import Synchronization

/// An idempotent Kafka producer (`enable.idempotence=true`, `acks=all`) whose ``send(_:)`` returns only once the
/// broker acknowledged the message.
///
/// A `Service`: add it to the application's services **before** the HTTP server and consumers (so it stops after
/// them). Its ``run()`` serves delivery reports and librdkafka's log lines until graceful shutdown, then flushes:
/// it waits up to `messageTimeout` for outstanding messages, purges what is left and fails those sends with
/// `.shutdown`. If `run()` is cancelled instead, it skips the wait and purges at once. Either way every pending
/// ``send(_:)`` is resumed exactly once, and `run()` returns normally.
///
/// librdkafka properties: `bootstrap.servers`, `client.id`, `enable.idempotence=true`, `acks=all`,
/// `message.timeout.ms`, `log.queue=true`, then ``KafkaBusConfiguration/additional``.
///
/// Threads: none of its own. ``run()`` serves delivery reports with a zero-timeout poll whenever librdkafka signals
/// that they arrived (`rd_kafka_queue_cb_event_enable`), and sleeps in between; ``checkReachable(timeout:)`` and the
/// final flush run on KafkaBus's shared blocking pool. Nothing here blocks the cooperative pool or an event loop:
/// ``send(_:)`` only calls the non-blocking `rd_kafka_producev` and suspends on a continuation.
///
/// Thread-safe: all mutable state (lifecycle, message ids, pending continuations) is in one `Mutex`.
package final class KafkaBusProducer: Service, Sendable {
    private enum StopMode: Sendable {
        /// Graceful shutdown: wait for outstanding messages up to `messageTimeout`.
        case graceful
        /// Cancellation: purge outstanding messages at once.
        case immediate
    }

    private enum Lifecycle: Sendable {
        case idle
        case running
        case stopping(StopMode)
        case stopped
    }

    private struct State: ~Copyable {
        var lifecycle: Lifecycle = .idle
        var nextMessageID: UInt = 1
        var pending: [UInt: CheckedContinuation<KafkaBusDeliveryReport, any Error>] = [:]
    }

    /// How long one blocking poll of the final flush waits for an event.
    private static let pollTimeout: Int32 = 100
    /// Events served per poll job before checking for shutdown.
    private static let maxEventsPerPoll = 100

    private let client: RDKafkaClient
    private let executor: BlockingExecutor
    private let state = Mutex(State())
    private let logger: Logger
    private let messageTimeout: Duration
    private let configuration: KafkaBusConfiguration

    /// Creates the producer; librdkafka starts connecting in the background. Non-blocking.
    /// - Parameters:
    ///   - configuration: Brokers, client id, `messageTimeout`, `additional` properties.
    ///   - logger: Receives librdkafka's log lines (forwarded, never written to stderr) and KafkaBus's own messages.
    /// - Throws: ``KafkaBusError`` `.configuration` when librdkafka refuses a property.
    package init(configuration: KafkaBusConfiguration, logger: Logger) throws {
        var properties: [(name: String, value: String)] = [
            ("bootstrap.servers", configuration.brokers),
            ("client.id", configuration.clientID),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("message.timeout.ms", String(configuration.messageTimeout.clampedMilliseconds)),
        ]
        properties += configuration.additional.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        self.client = try RDKafkaClient(kind: .producer, properties: properties, logger: logger)
        self.executor = BlockingExecutor.shared()
        self.logger = logger
        self.messageTimeout = configuration.messageTimeout
        self.configuration = configuration
    }

    /// Sends `message` and returns once the broker acknowledged it (`acks=all`); librdkafka retries internally
    /// (broker down, leader change) for up to `messageTimeout`.
    ///
    /// Non-blocking for the calling thread: hands the message to librdkafka (copied) and suspends until the delivery
    /// report arrives. Reports are served by ``run()``, so a send made before `run()` starts waits for it.
    /// Cancelling the calling task does not withdraw the message (it is already queued); the call still returns its
    /// outcome. Safe to call concurrently from any number of tasks.
    ///
    /// - Parameter message: The message (`partition`/`offset` are ignored; the key chooses the partition).
    /// - Returns: Where the message was stored.
    /// - Throws: ``KafkaBusError``. `isRetriable` tells whether sending again is safe and may succeed: true for
    ///   `.timedOut` (e.g. the broker was down for longer than `messageTimeout`), `.queueFull` and `.unavailable`;
    ///   false for `.shutdown` (the producer is stopping or stopped), `.rejected` and fatal errors. After a timeout the
    ///   message may nonetheless have been written, so consumers must be idempotent.
    package func send(_ message: KafkaBusMessage) async throws -> KafkaBusDeliveryReport {
        var message = message
        message.topic = self.configuration.physicalTopic(message.topic)
        let report: KafkaBusDeliveryReport = try await withCheckedThrowingContinuation { continuation in
            // Registration and hand-over happen under the lock so that the shutdown sweep cannot fail a send whose
            // message reaches librdkafka afterwards. rd_kafka_producev does not block and never calls back into us.
            let failure: (any Error)? = self.state.withLock { state in
                switch state.lifecycle {
                case .idle, .running:
                    break
                case .stopping, .stopped:
                    return KafkaBusError.shutdown("producer is shutting down; message not sent")
                }
                let id = state.nextMessageID
                state.nextMessageID = id == UInt.max ? 1 : id + 1
                do {
                    try self.client.produce(message, id: id)
                } catch {
                    return error
                }
                state.pending[id] = continuation
                return nil
            }
            if let failure {
                continuation.resume(throwing: failure)
            }
        }
        return KafkaBusDeliveryReport(
            topic: self.configuration.logicalTopic(report.topic),
            partition: report.partition,
            offset: report.offset
        )
    }

    /// Asks the cluster for metadata and returns when a broker answered: the check behind `/ready`.
    ///
    /// Runs on KafkaBus's blocking pool (not the cooperative pool) and waits at most `timeout`, even if the calling
    /// task is cancelled. Works before and during ``run()``; concurrent calls queue behind each other.
    /// - Parameter timeout: How long to wait for an answer.
    /// - Throws: ``KafkaBusError`` `.unavailable` when no broker answered within `timeout`; `.shutdown` after `run()`
    ///   returned.
    package func checkReachable(timeout: Duration) async throws {
        let milliseconds = timeout.clampedMilliseconds
        try await self.executor.run { [client = self.client] in
            try client.requestMetadata(timeout: milliseconds)
        }
    }

    /// Serves delivery reports and log lines until graceful shutdown or cancellation, then flushes (see the type's
    /// documentation) and stops the producer's threads. Returns normally in both cases.
    /// - Throws: ``KafkaBusError`` `.unknown` if called a second time.
    package func run() async throws {
        try self.state.withLock { state in
            guard case .idle = state.lifecycle else {
                throw KafkaBusError(code: .unknown, message: "KafkaBusProducer.run() called more than once")
            }
            state.lifecycle = .running
        }
        self.logger.debug("Kafka producer running")
        do {
            try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    await self.serveUntilStopped()
                    try await self.executor.run { self.flush() }
                } onGracefulShutdown: {
                    self.requestStop(.graceful)
                }
            } onCancel: {
                self.requestStop(.immediate)
            }
        } catch {
            // Only possible if the pool is gone; still resume every pending send.
            self.logger.error("Kafka producer poll loop failed", metadata: ["error": "\(error)"])
            self.failAllPending()
        }
        await self.executor.shutdown()
        self.logger.debug("Kafka producer stopped")
    }

    private func requestStop(_ mode: StopMode) {
        self.state.withLock { state in
            switch state.lifecycle {
            case .idle, .running:
                state.lifecycle = .stopping(mode)
            case .stopping(.graceful) where mode == .immediate:
                // Cancellation during a graceful flush cuts the flush short.
                state.lifecycle = .stopping(.immediate)
            case .stopping, .stopped:
                break
            }
        }
        self.client.wakeup.signal()
    }

    private var stopMode: StopMode? {
        self.state.withLock { state in
            if case .stopping(let mode) = state.lifecycle { return mode }
            return nil
        }
    }

    private var hasPendingSends: Bool {
        self.state.withLock { !$0.pending.isEmpty }
    }

    /// Serves reports as librdkafka signals them, until a stop is requested. Never blocks: the poll does not wait.
    private func serveUntilStopped() async {
        while self.stopMode == nil {
            let served = self.client.pollEvents(timeout: 0, maxEvents: Self.maxEventsPerPoll, onReport: self.complete)
            if served < Self.maxEventsPerPoll {
                await self.client.wakeup.wait(atMost: self.configuration.idleWait)
            }
        }
    }

    /// After a stop request: serves the remaining reports, purges what is still unacknowledged and fails the rest.
    /// Blocking (polls with a timeout): runs on the blocking pool.
    private func flush() {
        // Flush: keep serving reports until every send got its report, up to messageTimeout. (Not rd_kafka_outq_len:
        // it also counts log events, which keep coming while a broker is down.)
        let deadline = ContinuousClock.now + self.messageTimeout
        while self.hasPendingSends, self.stopMode == .graceful, ContinuousClock.now < deadline {
            self.client.pollEvents(timeout: Self.pollTimeout, maxEvents: Self.maxEventsPerPoll, onReport: self.complete)
        }
        if self.hasPendingSends {
            self.logger.warning(
                "Kafka producer stopping with unacknowledged messages; purging them",
                metadata: ["kafka.outstanding": "\(self.client.outstandingCount)"]
            )
            self.client.purge()
            // Purged messages get failed delivery reports (mapped to .shutdown) almost at once; serve them briefly.
            let purgeDeadline = ContinuousClock.now + .seconds(1)
            while self.hasPendingSends, ContinuousClock.now < purgeDeadline {
                self.client.pollEvents(timeout: 10, maxEvents: Self.maxEventsPerPoll, onReport: self.complete)
            }
        }
        self.failAllPending()
    }

    /// Resumes the send waiting for message `id` (a report for an unknown id, e.g. one already failed, is dropped).
    private func complete(_ id: UInt, _ result: Result<KafkaBusDeliveryReport, KafkaBusError>) {
        let continuation = self.state.withLock { $0.pending.removeValue(forKey: id) }
        continuation?.resume(with: result.mapError { $0 as any Error })
    }

    /// Marks the producer stopped and fails every send still waiting with `.shutdown`.
    private func failAllPending() {
        let pending = self.state.withLock { state in
            state.lifecycle = .stopped
            let pending = state.pending
            state.pending = [:]
            return pending
        }
        for continuation in pending.values {
            continuation.resume(
                throwing: KafkaBusError.shutdown("producer stopped before the message was acknowledged")
            )
        }
    }
}
