internal import CRdKafka
package import Logging
import ServiceLifecycle
import Synchronization

/// librdkafka's in-process mock Kafka cluster (`rd_kafka_mock_cluster_new`): real Kafka wire protocol on loopback
/// ports, with fault injection. Used by the `dev-broker` executable; not for production.
///
/// It needs an `rd_kafka_t` for its logging, so it owns one (a producer handle nobody produces with) and forwards the
/// cluster's log lines to `logger`.
///
/// A `Service`: ``run()`` serves log lines and the scheduled "broker back up" events (see
/// ``setBrokerDown(_:upAfter:)``) until graceful shutdown or cancellation, then destroys the cluster. The control
/// methods throw `.shutdown` afterwards.
///
/// Threads: the mock functions send a command to the cluster's thread and wait for its answer, so every one of them,
/// and the log poll loop, runs on a private `NIOThreadPool` (never on the cooperative pool or an event loop).
///
/// Thread-safety: `@unchecked Sendable` because the cluster pointer is kept in a `Mutex` (nil once destroyed) and
/// every use of it happens while that lock is held, so it cannot be destroyed during a call; the `RDKafkaClient` is
/// thread-safe itself; the rest is immutable or a `Mutex`.
package final class KafkaMockCluster: Service, @unchecked Sendable {
    /// The bootstrap servers, e.g. `127.0.0.1:37261,127.0.0.1:40125`.
    package let bootstrap: String
    /// Number of brokers; their ids are `1...brokerCount`.
    package let brokerCount: Int

    private let client: RDKafkaClient
    private let executor: BlockingExecutor
    private let cluster: Mutex<OpaquePointer?>
    private let createdTopics = Mutex<[String]>([])
    private let stopRequested = Mutex(false)
    private let recoveries: AsyncStream<(broker: Int, delay: Duration)>
    private let recoveriesContinuation: AsyncStream<(broker: Int, delay: Duration)>.Continuation
    private let logger: Logger

    /// Creates the cluster; its brokers listen on random loopback ports at once. Blocking for a few milliseconds
    /// (starts the cluster thread): call it at startup, not from a request handler.
    /// - Parameters:
    ///   - brokers: Number of brokers (≥ 1).
    ///   - logger: Receives the cluster's log lines.
    /// - Throws: ``KafkaBusError`` `.configuration` if the cluster cannot be created.
    package init(brokers: Int, logger: Logger) throws {
        guard brokers >= 1 else {
            throw KafkaBusError.configuration("a mock cluster needs at least one broker")
        }
        let client = try RDKafkaClient(kind: .producer, properties: [("client.id", "dev-broker")], logger: logger)
        let created = client.withHandle { handle in
            rd_kafka_mock_cluster_new(handle, Int32(clamping: brokers))
        }
        guard let created else {
            throw KafkaBusError.configuration("rd_kafka_mock_cluster_new failed")
        }
        self.bootstrap = String(cString: rd_kafka_mock_cluster_bootstraps(created))
        self.brokerCount = brokers
        self.client = client
        self.cluster = Mutex(created)
        // One thread for the log loop, one for control calls.
        self.executor = BlockingExecutor(numberOfThreads: 2)
        (self.recoveries, self.recoveriesContinuation) = AsyncStream.makeStream()
        self.logger = logger
    }

    deinit {
        // Frees only, if run() did not: the cluster must go before the rd_kafka_t it uses (released after this).
        if let cluster = self.cluster.withLock({ $0 }) {
            rd_kafka_mock_cluster_destroy(cluster)
        }
        self.executor.shutdownInBackground()
    }

    /// The topics created through ``createTopic(_:partitions:replicationFactor:)``, in creation order (topics the
    /// cluster auto-created on first use are not listed).
    package var topics: [String] {
        self.createdTopics.withLock { $0 }
    }

    /// Creates a topic (`rd_kafka_mock_topic_create`); creating an existing topic is not an error.
    /// - Throws: ``KafkaBusError`` `.configuration` for a bad name or count, `.shutdown` after `run()` returned.
    package func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) async throws {
        guard !name.isEmpty, partitions >= 1, replicationFactor >= 1, replicationFactor <= self.brokerCount else {
            throw KafkaBusError.configuration("invalid topic name, partition count or replication factor")
        }
        try await self.withCluster { cluster in
            let error = rd_kafka_mock_topic_create(
                cluster,
                name,
                Int32(clamping: partitions),
                Int32(clamping: replicationFactor)
            )
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw RDKafkaError.map(error, context: "topic not created")
            }
        }
        self.createdTopics.withLock { topics in
            if !topics.contains(name) { topics.append(name) }
        }
    }

    /// Takes broker `id` down (`rd_kafka_mock_broker_set_down`: connections are closed and new ones refused), and,
    /// if `upAfter` is given, brings it back up after that long (scheduled by ``run()``).
    /// - Throws: ``KafkaBusError`` `.configuration` for an unknown broker id, `.shutdown` after `run()` returned.
    package func setBrokerDown(_ id: Int, upAfter: Duration? = nil) async throws {
        try self.checkBroker(id)
        try await self.withCluster { cluster in
            let error = rd_kafka_mock_broker_set_down(cluster, Int32(id))
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw RDKafkaError.map(error, context: "broker not set down")
            }
        }
        if let upAfter {
            self.recoveriesContinuation.yield((id, upAfter))
        }
    }

    /// Brings broker `id` back up (`rd_kafka_mock_broker_set_up`).
    /// - Throws: ``KafkaBusError`` `.configuration` for an unknown broker id, `.shutdown` after `run()` returned.
    package func setBrokerUp(_ id: Int) async throws {
        try self.checkBroker(id)
        try await self.withCluster { cluster in
            let error = rd_kafka_mock_broker_set_up(cluster, Int32(id))
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw RDKafkaError.map(error, context: "broker not set up")
            }
        }
    }

    /// Makes the next `count` requests with Kafka API key `apiKey` (0 Produce, 1 Fetch, 8 OffsetCommit, ...) fail with
    /// the error named `errorName` (`rd_kafka_mock_push_request_errors_array`), whichever broker receives them.
    /// - Parameters:
    ///   - apiKey: The Kafka protocol ApiKey.
    ///   - errorName: An `rd_kafka_resp_err_t` name without the `RD_KAFKA_RESP_ERR_` prefix, e.g.
    ///     `NOT_LEADER_FOR_PARTITION`.
    ///   - count: How many requests fail (≥ 1).
    /// - Throws: ``KafkaBusError`` `.configuration` for an unknown error name or a bad count, `.shutdown` after
    ///   `run()` returned.
    package func pushRequestErrors(apiKey: Int16, errorName: String, count: Int) async throws {
        guard let code = RDKafkaError.code(named: errorName) else {
            throw KafkaBusError.configuration("unknown librdkafka error name '\(errorName)'")
        }
        guard count >= 1, count <= 10_000 else {
            throw KafkaBusError.configuration("count must be between 1 and 10000")
        }
        try await self.withCluster { cluster in
            let errors = [rd_kafka_resp_err_t](repeating: code, count: count)
            errors.withUnsafeBufferPointer { buffer in
                rd_kafka_mock_push_request_errors_array(cluster, apiKey, buffer.count, buffer.baseAddress)
            }
        }
    }

    /// Whether `name` is a librdkafka error name ``pushRequestErrors(apiKey:errorName:count:)`` accepts.
    package static func isKnownErrorName(_ name: String) -> Bool {
        RDKafkaError.code(named: name) != nil
    }

    /// Serves the cluster's log lines and scheduled broker recoveries until graceful shutdown or cancellation, then
    /// destroys the cluster and stops its thread pool. Returns normally.
    package func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    group.addTask {
                        try? await self.executor.run { self.serveLogsUntilStopped() }
                    }
                    group.addTask {
                        await withDiscardingTaskGroup { recoveries in
                            for await recovery in self.recoveries {
                                recoveries.addTask {
                                    // Cancelled (and skipped) when the cluster stops first.
                                    guard (try? await Task.sleep(for: recovery.delay)) != nil else { return }
                                    do {
                                        try await self.setBrokerUp(recovery.broker)
                                        self.logger.info("broker back up", metadata: ["broker": "\(recovery.broker)"])
                                    } catch {
                                        self.logger.warning("broker not set up", metadata: ["error": "\(error)"])
                                    }
                                }
                            }
                            recoveries.cancelAll()
                        }
                    }
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        // Joins the cluster's thread: blocking, so on the pool. Under the lock, so no control call can overlap it.
        try? await self.executor.run {
            self.cluster.withLock { cluster in
                if let cluster { rd_kafka_mock_cluster_destroy(cluster) }
                cluster = nil
            }
        }
        await self.executor.shutdown()
    }

    private func stop() {
        self.stopRequested.withLock { $0 = true }
        self.recoveriesContinuation.finish()
    }

    private func serveLogsUntilStopped() {
        while !self.stopRequested.withLock({ $0 }) {
            self.client.pollEvents(timeout: 100, maxEvents: 100) { _, _ in }
        }
    }

    private func checkBroker(_ id: Int) throws {
        guard (1...self.brokerCount).contains(id) else {
            throw KafkaBusError.configuration("unknown broker id \(id) (brokers are 1...\(self.brokerCount))")
        }
    }

    /// Runs `body` with the cluster pointer on the pool thread, holding the lock so the cluster cannot be destroyed
    /// meanwhile. **Do not escape the pointer from the closure.**
    private func withCluster(_ body: @escaping @Sendable (OpaquePointer) throws -> Void) async throws {
        try await self.executor.run {
            try self.cluster.withLock { cluster in
                guard let cluster else {
                    throw KafkaBusError.shutdown("the mock cluster has been destroyed")
                }
                try body(cluster)
            }
        }
    }
}
