import Foundation
import KafkaBus
import Logging
import MongoStore
import ServiceKit
import ServiceLifecycle
import StorefrontContracts
import Synchronization

/// Publishes the stock records marked pending (`stockPending: 1`, set by every ``StockLedger`` change together with a
/// new `version`) on `stock-levels`, so that the product service's catalog views follow the stock without asking.
///
/// A `Service`: add it after the producer. Each pass reads up to ``batchSize`` pending records, publishes each one's
/// state with its version (key: product id), and after the broker's acknowledgements resets the marks of the batch in
/// one command, each **only if the version is still the one published** (`updateMany({$or: [{_id, version: v}, …]},
/// {$set: {stockPending: 0}})`); a record that changed meanwhile stays pending and goes out again in the next pass.
/// Passes run ``gatherDelay`` after a writer calls ``notify()`` (an order's lines, and its reservation then its sale,
/// come in bursts: one pass takes them together, a few store commands per burst instead of two per change) and
/// otherwise every `pollInterval`, which picks up records left pending by a crash or written by another instance.
/// Delivery is therefore at least once, never lost while the record exists; readers keep the highest version they saw,
/// so repeats and concurrent publishers do no harm.
///
/// Deletions (``publishDeletion(productID:version:)``) are published from memory, at most once: a crash right after a
/// delete loses the tombstone. That is acceptable because a record is deleted only together with its product (whose
/// `product-deleted` event removes it from the views) and because the views' staleness bound refreshes every entry.
///
/// Thread-safe: the wake-ups go through an `AsyncStream`, the queued deletions are in a `Mutex`.
final class StockPublisher: Service, Sendable {
    let pollInterval: Duration
    /// How long a pass waits after the first wake-up, gathering the changes that follow it.
    let gatherDelay: Duration
    let batchSize: Int

    private let records: MongoCollection<StockRecord>
    private let publisher: EventPublisher
    private let logger: Logger
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let deletions = Mutex<[StockLevelEvent]>([])
    /// Whether a pass was asked for since the last one started (wake-ups gathered into a pass ask for no other).
    private let passRequested = Mutex(false)

    init(
        store: MongoStore,
        producer: KafkaBusProducer,
        pollInterval: Duration = .seconds(5),
        gatherDelay: Duration = .milliseconds(200),
        batchSize: Int = 100,
        logger: Logger
    ) {
        self.records = store.collection(StockLedger.collectionName, as: StockRecord.self)
        self.publisher = EventPublisher(producer: producer)
        self.pollInterval = pollInterval
        self.gatherDelay = gatherDelay
        self.batchSize = batchSize
        self.logger = logger
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.wakeups = wakeups
        self.wake = wake
    }

    /// Asks for a pass now (a record was just changed). Non-blocking; wake-ups during a pass make one more pass.
    func notify() {
        self.passRequested.withLock { $0 = true }
        self.wake.yield()
    }

    /// Queues the tombstone of `productID`'s deleted record, `version` being the deleted record's version + 1.
    func publishDeletion(productID: String, version: Int64) {
        self.deletions.withLock { $0.append(StockLevelEvent(productId: productID, version: version, record: nil)) }
        self.notify()
    }

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // The slow poll: crash leftovers and other instances' writes.
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.pollInterval)
                    self.notify()
                }
            }
            await withGracefulShutdownHandler {
                self.notify()  // a first pass at start: leftovers of the previous run
                for await _ in self.wakeups {
                    try? await Task.sleep(for: self.gatherDelay)
                    let requested = self.passRequested.withLock { requested in
                        defer { requested = false }
                        return requested
                    }
                    if requested { await self.publishPending() }
                }
            } onGracefulShutdown: {
                self.wake.finish()
            }
            group.cancelAll()
        }
    }

    /// One pass: the queued tombstones, then the pending records, batch after batch until none is left or a publish
    /// fails (the failed ones stay pending for the next pass).
    func publishPending() async {
        let tombstones = self.deletions.withLock { queued in
            defer { queued = [] }
            return queued
        }
        for (index, event) in tombstones.enumerated() {
            do {
                try await self.publisher.publish(event, to: Topics.stockLevels)
            } catch {
                self.logger.warning("stock tombstone not published; retrying", metadata: ["error": "\(error)"])
                self.deletions.withLock { $0.insert(contentsOf: tombstones[index...], at: 0) }
                return
            }
        }
        while !Task.isCancelled {
            let batch: [StockRecord]
            do {
                batch = try await self.records.find(["stockPending": 1], limit: self.batchSize)
            } catch {
                self.logger.warning("pending stock records not read; retrying", metadata: ["error": "\(error)"])
                return
            }
            guard !batch.isEmpty else { return }
            // Different products: published concurrently; only the acknowledged ones are unmarked.
            let published = await withTaskGroup(of: StockRecord?.self) { group in
                for record in batch {
                    group.addTask { await self.publish(record) ? record : nil }
                }
                return await group.reduce(into: [StockRecord]()) { if let record = $1 { $0.append(record) } }
            }
            do {
                try await self.unmark(published)
            } catch {
                self.logger.warning("published stock records not unmarked; retrying", metadata: ["error": "\(error)"])
                return
            }
            if published.count < batch.count || batch.count < self.batchSize { return }
        }
    }

    /// Publishes `record`'s state; `false` when the broker did not take it.
    private func publish(_ record: StockRecord) async -> Bool {
        do {
            let event = StockLevelEvent(
                productId: record.productId,
                version: record.version,
                record: try Self.json(record)
            )
            try await self.publisher.publish(event, to: Topics.stockLevels)
            return true
        } catch {
            self.logger.warning(
                "stock level not published; retrying",
                metadata: ["product.id": "\(record.productId)", "error": "\(error)"]
            )
            return false
        }
    }

    /// Resets the marks of the published records whose version is still the one published, in one command.
    private func unmark(_ published: [StockRecord]) async throws {
        guard !published.isEmpty else { return }
        let unchanged: [MongoValue] = published.map { record in
            // Records written before versions existed have no `version` field.
            let version: MongoValue = record.version == 0 ? ["$exists": false] : .int(record.version)
            return ["_id": .string(record.id), "version": version]
        }
        // A top-level `$or` only: an update filter mixing a field with `$or` is mishandled by the dev store (gap 16).
        _ = try await self.records.updateMany(["$or": .array(unchanged)], ["$set": ["stockPending": .int(0)]])
    }

    /// The record exactly as `GET /get/{productId}` answers it.
    static func json(_ record: StockRecord) throws -> JSONValue {
        try JSONDecoder().decode(
            JSONValue.self,
            from: try StorefrontJSON.encoder().encode(InventoryController.RecordResponse(record))
        )
    }
}
