import Foundation
import KafkaBus
import MongoStore
import ServiceKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

@testable import InventoryService

/// The stock record as its own outbox: a change left unpublished by a crash goes out from the next publisher.
@Suite(.timeLimit(.minutes(2)))
struct StockPublisherTests {
    /// Collects the `stock-levels` events a reader sees.
    final class Seen: Sendable {
        private let events = Mutex<[StockLevelEvent]>([])

        func add(_ message: KafkaBusMessage) {
            guard let event = try? StorefrontJSON.decoder().decode(StockLevelEvent.self, from: Data(message.value))
            else {
                return
            }
            self.events.withLock { $0.append(event) }
        }

        func of(_ productID: String) -> [StockLevelEvent] {
            self.events.withLock { $0.filter { $0.productId == productID } }
        }
    }

    @Test("changes whose publisher died before publishing are published by the next one, then unmarked together")
    func republishAfterCrash() async throws {
        let runtime = try await TestRuntimes.make(.inventory)
        // The change is written (version and mark in the same update) by a ledger whose publisher never ran: the
        // process died between the update and the publish.
        let crashed = InventoryTests.ledger(runtime)
        try await crashed.prepare()
        let id = try await InventoryTests.stock(runtime, 5)
        let other = try await InventoryTests.stock(runtime, 7)
        guard case .updated = try await crashed.setOnHand(id, to: 9) else { throw CancellationError() }
        guard case .updated = try await crashed.setOnHand(other, to: 8) else { throw CancellationError() }
        let pending = try await InventoryTests.record(runtime, id)
        #expect(pending.version == 2 && pending.stockPending == 1)

        let producer = try runtime.makeProducer()
        let seen = Seen()
        let reader = try KafkaBusReader(
            configuration: try runtime.kafkaConfiguration(),
            topics: [Topics.stockLevels.name],
            logger: InventoryTests.logger
        ) { seen.add($0) }
        let publisher = StockPublisher(
            store: runtime.store,
            producer: producer,
            // No second pass by polling within the test: the first pass (at start) must publish and unmark both.
            pollInterval: .seconds(120),
            logger: InventoryTests.logger
        )
        try await withRunning([{ try await producer.run() }, { try await reader.run() }]) {
            #expect(await eventually { reader.isLive })
            try await withRunning([{ try await publisher.run() }]) {
                #expect(await eventually { seen.of(id).contains { $0.version == 2 } })
                let event = try #require(seen.of(id).first { $0.version == 2 })
                #expect(event.record?["inventory"]?.numberValue == 9 && event.record?["productId"] == .string(id))
                #expect(await eventually { seen.of(other).contains { $0.version == 2 } })
                // Both marks are reset (one command for the pass's batch), and only for the published versions.
                #expect(await eventually { (try? await InventoryTests.record(runtime, id).stockPending) == 0 })
                #expect(await eventually { (try? await InventoryTests.record(runtime, other).stockPending) == 0 })

                // The next change goes out without waiting for the poll (the ledger wakes the publisher): well within
                // the 120 s poll interval, however loaded the machine (10 s was once too short, at load average 32).
                let ledger = StockLedger(store: runtime.store, publisher: publisher)
                guard case .updated = try await ledger.setOnHand(id, to: 4) else { throw CancellationError() }
                #expect(await eventually(.seconds(60)) { seen.of(id).contains { $0.version == 3 } })

                // A deletion publishes a tombstone, one version past the last state.
                #expect(try await ledger.delete(id) == .deleted)
                #expect(await eventually { seen.of(id).contains { $0.version == 4 && $0.record == nil } })
            }
        }
        await runtime.store.close()
    }
}
