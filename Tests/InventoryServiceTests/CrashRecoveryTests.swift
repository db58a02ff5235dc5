import Foundation
import MongoStore
import ServiceKit
import TestSupport
import Testing

@testable import InventoryService

/// States a crash between steps leaves behind, and how the next look (sweeper, redelivery) completes them once.
@Suite(.timeLimit(.minutes(2)))
struct CrashRecoveryTests {
    @Test("a release half-done by a crash is finished by the sweeper, each item exactly once")
    func halfDoneRelease() async throws {
        let (runtime, reservations, _) = try await PaymentEventsTests.setup()
        let a = try await InventoryTests.stock(runtime, 5)
        let b = try await InventoryTests.stock(runtime, 5)
        let r = try await PaymentEventsTests.reserve(reservations, "o-crash", [(a, 2), (b, 3)])
        // The transition was recorded and the first item released; then the process died.
        _ = try await reservations.collection.updateOne(
            ["_id": .string(r.id)],
            ["$set": ["status": "CANCELLED", "stock": "releasing"]]
        )
        try await reservations.ledger.release(r.id, r.items[0])
        try await reservations.ledger.release(r.id, r.items[0])  // a retry of the same step changes nothing
        #expect(try await InventoryTests.record(runtime, a).inventory == 5)
        try await reservations.sweep(logger: InventoryTests.logger)
        try await reservations.sweep(logger: InventoryTests.logger)
        #expect(try await InventoryTests.record(runtime, a).inventory == 5)
        let rb = try await InventoryTests.record(runtime, b)
        #expect(rb.inventory == 5 && rb.reserved == 0)
        #expect(try await reservations.find(id: r.id)?.stock == .released)
        await runtime.store.close()
    }

    @Test("a reservation whose request died while holding is rolled back after the grace; a late hold cannot apply")
    func deadReserving() async throws {
        let (runtime, _, _) = try await PaymentEventsTests.setup()
        let reservations = Reservations(
            store: runtime.store,
            ledger: StockLedger(store: runtime.store),
            ttl: .seconds(900),
            reservingGrace: .milliseconds(1)
        )
        let a = try await InventoryTests.stock(runtime, 5)
        let b = try await InventoryTests.stock(runtime, 5)
        let now = Date().epochMilliseconds - 1000
        let dead = Reservation(
            id: MongoObjectID().hex,
            orderId: "o-dead",
            status: .pending,
            stock: .reserving,
            items: [.init(productId: a, quantity: 2), .init(productId: b, quantity: 1)],
            expiresAt: now + 900_000,
            createdAt: now,
            updatedAt: now
        )
        try await reservations.collection.insert(dead)
        #expect(try await reservations.ledger.hold(dead.id, dead.items[0]))
        try await reservations.sweep(logger: InventoryTests.logger)
        #expect(try await reservations.find(id: dead.id) == nil)
        #expect(try await InventoryTests.record(runtime, a).inventory == 5)
        // The dying request's next hold finds the tombstone and does nothing.
        #expect(try await reservations.ledger.hold(dead.id, dead.items[1]) == false)
        #expect(try await InventoryTests.record(runtime, b).inventory == 5)
        // The order can reserve again.
        _ = try await PaymentEventsTests.reserve(reservations, "o-dead", [(a, 2)])
        #expect(try await InventoryTests.record(runtime, a).reserved == 2)
        await runtime.store.close()
    }
}
