import Foundation
import MongoStore

/// The stock records and every movement of units between `inventory`, `reserved` and `sold`.
///
/// Each per-item movement is ONE conditional `findAndModify`/`update` on the product's record whose filter names the
/// stage the reservation's units must be at (`movements.<reservationId>`) and whose update sets the next stage in the
/// same write. A retry, a redelivered event or the sweeper running the same step again therefore matches nothing
/// and changes nothing: no step can apply twice, and a crash between steps leaves a stage that says exactly what is
/// left to do. Only `$inc`, `$set` of strings/ints on map paths, `$exists` and `$gte` are used (verified on the dev
/// store; `$ne` against an array element is NOT honoured there, so applied movements are a map, not an array).
///
/// Every change of a record's numbers also raises its `version` and marks it `stockPending` in the same update
/// (``change(inc:set:)``), then wakes the ``StockPublisher``: the record is its own outbox for `stock-levels`, with
/// no transaction on the checkout path.
struct StockLedger: Sendable {
    enum Stage: String {
        case held, released, sold, void
    }

    let records: MongoCollection<StockRecord>
    /// Woken after each change; `nil` in tests that only look at the records.
    let publisher: StockPublisher?

    init(store: MongoStore, publisher: StockPublisher? = nil) {
        self.records = store.collection(Self.collectionName, as: StockRecord.self)
        self.publisher = publisher
    }

    static let collectionName = "inventory"

    func prepare() async throws {
        try await self.records.createIndexes([
            MongoIndex(keys: ["productId": 1], unique: true),
            MongoIndex(keys: ["stockPending": 1]),
        ])
    }

    /// The update of a stock change: `inc` and `set`, plus `version +1` and `stockPending: 1`, in one atomic write.
    static func change(inc: MongoDocument, set: MongoDocument) -> MongoDocument {
        var inc = inc
        inc.append("version", .int(1))
        var set = set
        set.append("stockPending", .int(1))
        return ["$inc": .document(inc), "$set": .document(set)]
    }

    private func changed() { self.publisher?.notify() }

    private static func path(_ reservationID: String) -> String { "movements.\(reservationID)" }

    func record(_ productID: String) async throws -> StockRecord? {
        try await self.records.findOne(["productId": .string(productID)])
    }

    // MARK: - Movements

    /// absent → held: `inventory -q, reserved +q`, only while `inventory >= q`.
    /// - Returns: whether the units are now held for the reservation (also when they already were).
    func hold(_ reservationID: String, _ item: Reservation.Item) async throws -> Bool {
        let key = Self.path(reservationID)
        let q = Int64(item.quantity)
        if try await self.records.findOneAndUpdate(
            ["productId": .string(item.productId), "inventory": ["$gte": .int(q)], key: ["$exists": false]],
            Self.change(
                inc: ["inventory": .int(-q), "reserved": .int(q)],
                set: [key: "held", "updatedAt": .int(Date().epochMilliseconds)]
            )
        ) != nil {
            self.changed()
            return true
        }
        return try await self.stage(reservationID, item.productId) == .held
    }

    /// held → released (`inventory +q, reserved -q`); absent → void (a tombstone, so a hold still in flight for this
    /// reservation can no longer apply). Loops until the stage is final, so a concurrent hold cannot slip between.
    func release(_ reservationID: String, _ item: Reservation.Item) async throws {
        let key = Self.path(reservationID)
        let q = Int64(item.quantity)
        let product: MongoValue = .string(item.productId)
        for _ in 0..<10 {
            if try await self.records.updateOne(
                ["productId": product, key: "held"],
                Self.change(
                    inc: ["inventory": .int(q), "reserved": .int(-q)],
                    set: [key: "released", "updatedAt": .int(Date().epochMilliseconds)]
                )
            ).matchedCount == 1 {
                self.changed()
            }
            try await self.records.updateOne(["productId": product, key: ["$exists": false]], ["$set": [key: "void"]])
            switch try await self.stage(reservationID, item.productId) {
            case .held?: continue
            default: return  // released, void, sold (not ours to undo) or no record at all
            }
        }
    }

    /// held → sold: `reserved -q, sold +q`.
    func sell(_ reservationID: String, _ item: Reservation.Item) async throws {
        let key = Self.path(reservationID)
        let q = Int64(item.quantity)
        if try await self.records.updateOne(
            ["productId": .string(item.productId), key: "held"],
            Self.change(
                inc: ["reserved": .int(-q), "sold": .int(q)],
                set: [key: "sold", "updatedAt": .int(Date().epochMilliseconds)]
            )
        ).matchedCount == 1 {
            self.changed()
        }
    }

    /// released → sold directly (a late payment success for an expired or cancelled reservation): `inventory -q,
    /// sold +q`, only while `inventory >= q`.
    /// - Returns: whether the units are sold for the reservation now (also when they already were).
    func resell(_ reservationID: String, _ item: Reservation.Item) async throws -> Bool {
        let key = Self.path(reservationID)
        let q = Int64(item.quantity)
        if try await self.records.findOneAndUpdate(
            ["productId": .string(item.productId), "inventory": ["$gte": .int(q)], key: "released"],
            Self.change(
                inc: ["inventory": .int(-q), "sold": .int(q)],
                set: [key: "sold", "updatedAt": .int(Date().epochMilliseconds)]
            )
        ) != nil {
            self.changed()
            return true
        }
        return try await self.stage(reservationID, item.productId) == .sold
    }

    /// sold → released (undoes ``resell(_:_:)`` when a later item of the same late commit is short).
    func unsell(_ reservationID: String, _ item: Reservation.Item) async throws {
        let key = Self.path(reservationID)
        let q = Int64(item.quantity)
        if try await self.records.updateOne(
            ["productId": .string(item.productId), key: "sold"],
            Self.change(
                inc: ["inventory": .int(q), "sold": .int(-q)],
                set: [key: "released", "updatedAt": .int(Date().epochMilliseconds)]
            )
        ).matchedCount == 1 {
            self.changed()
        }
    }

    /// The stage of a reservation's units in a product's record; `nil` when none (or no record).
    func stage(_ reservationID: String, _ productID: String) async throws -> Stage? {
        guard let record = try await self.record(productID), let value = record.movements[reservationID] else {
            return nil
        }
        return Stage(rawValue: value)
    }

    // MARK: - Admin

    enum SetOnHandOutcome: Equatable {
        case updated(StockRecord)
        case notFound
        case belowReserved(reserved: Int)
        case contended
    }

    /// Sets the on-hand stock (`inventory + reserved`) by changing `inventory` (and `received`) by the difference, as
    /// a compare-and-set on the values just read, retried while reservations move concurrently.
    func setOnHand(_ productID: String, to onHand: Int) async throws -> SetOnHandOutcome {
        for _ in 0..<20 {
            guard let current = try await self.record(productID) else { return .notFound }
            guard onHand >= current.reserved else { return .belowReserved(reserved: current.reserved) }
            let delta = Int64(onHand - current.onHand)
            if let updated = try await self.records.findOneAndUpdate(
                [
                    "productId": .string(productID), "inventory": .int(Int64(current.inventory)),
                    "reserved": .int(Int64(current.reserved)),
                ],
                Self.change(
                    inc: ["inventory": .int(delta), "received": .int(delta)],
                    set: ["updatedAt": .int(Date().epochMilliseconds)]
                )
            ) {
                self.changed()
                return .updated(updated)
            }
        }
        return .contended
    }

    // MARK: - Create and delete

    /// Inserts `record` (published as the first state of the product's stock).
    /// - Throws: `MongoStoreError` `.duplicateKey` when the product already has a record.
    func create(_ record: StockRecord) async throws {
        try await self.records.insert(record)
        self.changed()
    }

    enum DeleteOutcome: Equatable {
        case deleted
        case notFound
        case pendingReservations
        /// The record kept changing while we tried.
        case contended
    }

    /// Deletes the product's record unless units are reserved, as a compare-and-set on the version just read (so the
    /// tombstone published for it carries the version after the last state), retried while the record changes.
    func delete(_ productID: String) async throws -> DeleteOutcome {
        for _ in 0..<20 {
            guard let current = try await self.record(productID) else { return .notFound }
            guard current.reserved == 0 else { return .pendingReservations }
            // Records written before versions existed have no `version` field.
            let version: MongoValue = current.version == 0 ? ["$exists": false] : .int(current.version)
            let filter: MongoDocument = ["productId": .string(productID), "reserved": 0, "version": version]
            if try await self.records.deleteOne(filter) == 1 {
                self.publisher?.publishDeletion(productID: productID, version: current.version + 1)
                return .deleted
            }
        }
        return .contended
    }
}
