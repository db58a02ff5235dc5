import Foundation
package import KafkaBus
package import Logging
package import Metrics
package import MongoStore
import ServiceLifecycle
import Synchronization

/// Publishes the records of a service's ``Outbox`` to Kafka, oldest first, and deletes each one only after the broker
/// acknowledged it.
///
/// A `Service`: add it right after the producer (so it stops before the producer flushes). ``run()`` loops until
/// graceful shutdown or cancellation: it reads up to ``batchSize`` of the oldest records (by `createdAt`, then
/// `sequence`), sends them one at a time in that order, and then deletes the acknowledged ones in one command (a store
/// round trip per batch, not per record). At the first failed send it stops the batch (so a later event of the same
/// key never overtakes an earlier one) and deletes what was acknowledged before it; after a failed send or delete it
/// waits (100 ms, doubling up to 5 s) and starts again from the oldest record; it retries forever. It wakes up when
/// ``notify()`` is called (by a writer whose transaction committed) and otherwise every `pollInterval`, which picks up
/// records left by a crash or written by another instance.
///
/// Delivery is at least once: a crash (or a failed delete) after the acknowledgement publishes the record again, and
/// two instances of a service may both publish a record; consumers deduplicate on the event id.
///
/// Threads: store calls run on the store's thread pool and `send` only suspends (``KafkaBusProducer``); nothing here
/// blocks the cooperative pool. On graceful shutdown the send in progress finishes (its own time limit is the
/// producer's `message.timeout.ms`), then `run()` returns. Thread-safe: its wake-up state is in one `Mutex`.
package final class OutboxRelay: Service, Sendable {
    /// Records read per batch.
    package let batchSize: Int
    /// How long the relay sleeps when nobody notifies it.
    package let pollInterval: Duration

    private struct Wakeup {
        var stopped = false
        var notified = false
        /// The suspended ``OutboxRelay/wait(for:wakeOnNotify:)``, with its number.
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        /// Whether the current waiter is woken by ``OutboxRelay/notify()`` (not during a backoff).
        var waiterTakesNotify = true
        /// Number of the last wait; the last one whose time ran out (possibly before it suspended).
        var lastWaitID: UInt64 = 0
        var expiredWaitID: UInt64 = 0
    }

    private static let initialBackoff: Duration = .milliseconds(100)
    private static let maxBackoff: Duration = .seconds(5)

    private let records: MongoCollection<OutboxRecord>
    private let producer: KafkaBusProducer
    private let logger: Logger
    /// `storefront_outbox_publish_failures_total`: sends the broker did not acknowledge (each is retried).
    private let publishFailures: Counter
    private let wakeup = Mutex(Wakeup())

    /// - Parameters:
    ///   - store: The service's store, whose `outbox` collection is published.
    ///   - producer: The producer to publish with (a service of the same application, started before the relay).
    ///   - pollInterval: How long to sleep when not notified (`OUTBOX_POLL_INTERVAL_MS` through
    ///     ``ServiceRuntime/makeOutboxRelay(producer:)``).
    ///   - batchSize: Records read per batch.
    ///   - logger: Failures are logged at warning level, with the backoff.
    package init(
        store: MongoStore,
        producer: KafkaBusProducer,
        pollInterval: Duration = .milliseconds(500),
        batchSize: Int = 100,
        logger: Logger,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.records = store.collection(Outbox.collectionName, as: OutboxRecord.self)
        self.producer = producer
        self.pollInterval = pollInterval
        self.batchSize = batchSize
        self.logger = logger
        self.publishFailures = Counter(label: "storefront_outbox_publish_failures_total", factory: metrics)
    }

    /// What waits to be published: how many records, and the age of the oldest (zero when none), for the
    /// `storefront_outbox_backlog` and `storefront_outbox_oldest_age_seconds` gauges.
    package func backlog() async throws -> (records: Int, oldestAge: Duration) {
        let count = try await self.records.count()
        guard count > 0, let oldest = try await self.records.findOne([:], sort: ["createdAt": 1]) else {
            return (count, .zero)
        }
        return (count, .milliseconds(max(0, Date().epochMilliseconds - oldest.createdAt)))
    }

    /// Wakes the relay up so that records committed just now are published at once. Non-blocking, thread-safe; a
    /// notification that arrives while a batch is running makes the relay look again right after it.
    package func notify() {
        let waiter: CheckedContinuation<Void, Never>? = self.wakeup.withLock { state in
            guard let waiter = state.waiter, state.waiterTakesNotify else {
                state.notified = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    /// Publishes until graceful shutdown or cancellation (see the type's documentation). Returns normally then.
    package func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await self.loop()
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    private func loop() async {
        var backoff = Self.initialBackoff
        while !self.isStopped {
            switch await self.publishBatch() {
            case .drained:
                backoff = Self.initialBackoff
                await self.wait(for: self.pollInterval, wakeOnNotify: true)
            case .more:
                backoff = Self.initialBackoff
            case .failed:
                await self.wait(for: backoff, wakeOnNotify: false)
                backoff = min(backoff * 2, Self.maxBackoff)
            }
        }
        self.logger.debug("outbox relay stopped")
    }

    private enum BatchOutcome {
        /// Fewer records than a full batch were found, and all were published.
        case drained
        /// A full batch was published; there may be more.
        case more
        /// The store or the broker failed; back off.
        case failed
    }

    /// Publishes the oldest records in order; stops at the first failure.
    private func publishBatch() async -> BatchOutcome {
        // A notification from now on asks for another look after this batch.
        self.wakeup.withLock { $0.notified = false }
        let batch: [OutboxRecord]
        do {
            batch = try await self.records.find([:], sort: ["createdAt": 1, "sequence": 1], limit: self.batchSize)
        } catch {
            self.logger.warning("outbox: cannot read the outbox; retrying", metadata: ["error": "\(error)"])
            return .failed
        }
        var published: [String] = []
        var outcome: BatchOutcome = batch.count == self.batchSize ? .more : .drained
        for record in batch {
            // Graceful shutdown: finish the send in progress, start no other.
            if self.isStopped {
                outcome = .drained
                break
            }
            let headers = EventHeaders.make(
                version: record.version,
                requestID: record.requestId,
                trace: record.trace ?? [:]
            )
            do {
                _ = try await self.producer.send(
                    KafkaBusMessage(
                        topic: record.topic,
                        key: record.key,
                        value: Array(record.payload.utf8),
                        headers: headers
                    )
                )
            } catch {
                self.publishFailures.increment()
                self.logger.warning(
                    "outbox: publishing failed; retrying",
                    metadata: ["error": "\(error)", "event.id": "\(record._id)", "kafka.topic": "\(record.topic)"]
                )
                outcome = .failed
                break
            }
            published.append(record._id)
        }
        guard !published.isEmpty else { return outcome }
        // What the broker acknowledged goes in one command (one store round trip per batch, not per record).
        do {
            try await self.records.deleteMany(["_id": ["$in": .array(published.map { .string($0) })]])
        } catch {
            // Published but not deleted: they will be published again (consumers deduplicate on the event id).
            self.logger.warning(
                "outbox: cannot delete published records; they will be published again",
                metadata: ["error": "\(error)", "records": "\(published.count)"]
            )
            return .failed
        }
        return outcome
    }

    private var isStopped: Bool { self.wakeup.withLock { $0.stopped } }

    private func stop() {
        let waiter: CheckedContinuation<Void, Never>? = self.wakeup.withLock { state in
            state.stopped = true
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume()
    }

    /// Suspends for `duration`, or less when stopped (or notified, with `wakeOnNotify`).
    private func wait(for duration: Duration, wakeOnNotify: Bool) async {
        let id = self.wakeup.withLock { state in
            state.lastWaitID &+= 1
            return state.lastWaitID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: duration)
                // Time is up (or the wait ended otherwise and this timer was cancelled): release this wait.
                let waiter: CheckedContinuation<Void, Never>? = self.wakeup.withLock { state in
                    guard let waiter = state.waiter, waiter.id == id else {
                        state.expiredWaitID = id
                        return nil
                    }
                    state.waiter = nil
                    return waiter.continuation
                }
                waiter?.resume()
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = self.wakeup.withLock { state in
                    if state.stopped || state.expiredWaitID == id || (wakeOnNotify && state.notified) {
                        return true
                    }
                    state.waiter = (id, continuation)
                    state.waiterTakesNotify = wakeOnNotify
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            group.cancelAll()
        }
    }
}
