import Foundation
import MongoStore
import ServiceKit
import StorefrontContracts

/// Orders in `OrderService.orders`, placements in progress in `OrderService.placements`, claimed idempotency keys in
/// `OrderService.idempotencyKeys`, and the service's outbox. Thread-safe.
///
/// Every change of an order's state is one transaction: a conditional update on `status` (`findAndModify` with the
/// allowed source states in the filter) and its `order-events` event in the outbox. So two actors never both win a
/// transition, nothing leaves a final state except along the state machine, and every state entered is announced
/// exactly once. No dates in `$set` (dev-store gap 3), no ObjectIds outside `_id` (gap 1); a transaction that fails
/// on the dev store may have left its writes (gap 13), so its outcome is read back.
struct OrderRepository: Sendable {
    let store: MongoStore
    let relay: OutboxRelay
    let orders: MongoCollection<Order>
    let placements: MongoCollection<Placement>
    let keys: MongoCollection<IdempotencyRecord>

    init(store: MongoStore, relay: OutboxRelay) {
        self.store = store
        self.relay = relay
        self.orders = store.collection(Self.ordersName, as: Order.self)
        self.placements = store.collection(Self.placementsName, as: Placement.self)
        self.keys = store.collection("idempotencyKeys", as: IdempotencyRecord.self)
    }

    private static let ordersName = "orders"
    private static let placementsName = "placements"

    func prepare() async throws {
        try await self.orders.createIndexes([
            MongoIndex(keys: ["userId": 1, "createdAtMs": -1]),
            MongoIndex(keys: ["status": 1, "createdAtMs": 1]),
        ])
        try await self.placements.createIndexes([MongoIndex(keys: ["createdAt": 1])])
        // `idempotencyKeys` is keyed by `_id` only (gap 10: never index `_id`); make sure the collection exists.
        _ = try await self.keys.count()
        try await Outbox.prepare(self.store)
    }

    /// How many orders are in each status (every status, zeros included): the `storefront_orders` gauge.
    func countsByStatus() async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for status in OrderStatus.allCases {
            counts[status.rawValue] = try await self.orders.count(["status": .string(status.rawValue)])
        }
        return counts
    }

    func find(_ id: String) async throws -> Order? {
        guard let objectID = MongoObjectID(id) else { return nil }
        return try await self.orders.findOne(["_id": .objectID(objectID)])
    }

    /// The user's orders, newest first.
    func list(userID: String) async throws -> [Order] {
        try await self.orders.find(["userId": .string(userID)], sort: ["createdAtMs": -1])
    }

    /// Every customer's orders, those in `status` only when given, newest first: the staff's order list.
    func list(status: OrderStatus?, limit: Int, offset: Int) async throws -> [Order] {
        let filter: MongoDocument = status.map { ["status": .string($0.rawValue)] } ?? [:]
        return try await self.orders.find(filter, sort: ["createdAtMs": -1], skip: offset, limit: limit)
    }

    // MARK: - Placing an order

    /// Records that a request is about to check the cart out for `orderID`.
    func beginPlacement(orderID: String, userID: String) async throws {
        try await self.placements.insert(Placement(id: orderID, userId: userID, createdAt: Date().epochMilliseconds))
    }

    /// Removes a placement that checked nothing out (the cart was empty or already checked out).
    func forgetPlacement(orderID: String) async throws {
        try await self.placements.deleteOne(["_id": .string(orderID)])
    }

    /// Placements older than `cutoff` (epoch ms): their requests died or are far past any time limit.
    func placements(createdBefore cutoff: Int64, limit: Int = 100) async throws -> [Placement] {
        try await self.placements.find(["createdAt": ["$lt": .int(cutoff)]], sort: ["createdAt": 1], limit: limit)
    }

    /// The placement was ended by someone else (the sweeper rejected it, or a retry of its request did) before this
    /// transaction could end it.
    struct PlacementLost: Error {}

    /// Stores the new order with its `order-placed` event, and ends its placement, in one transaction.
    ///
    /// The placement is ended last, here and in ``reject(orderID:userID:reason:)``: on the dev store a transaction
    /// cut short by a crash keeps the writes it made so far (gap 13), and a placement that is still there is rejected
    /// by the sweeper, while an ended placement without its order or event would hold the cart's checkout and the
    /// stock for good. (MongoDB aborts such a transaction, so there the order makes no difference.)
    /// - Throws: ``PlacementLost`` when the placement is gone (the sweeper rejected it: its checkout is released);
    ///   `MongoStoreError` when the store fails.
    func place(_ order: Order) async throws {
        let origin = EventOrigin.current
        let event = order.event
        do {
            try await self.store.withTransaction { transaction in
                try transaction.collection(Self.ordersName, as: Order.self).insert(order)
                try Outbox.append(event, to: Topics.orderEvents, origin: origin, in: transaction)
                let ended = try transaction.collection(Self.placementsName, as: Placement.self)
                    .deleteOne(["_id": .string(order.id.hex)])
                guard ended == 1 else { throw PlacementLost() }  // aborts: the order and its event go too
            }
        } catch let error as MongoStoreError where error.code == .server || error.code == .writeConflict {
            guard try await self.find(order.id.hex) != nil else { throw error }  // gap 13: it did commit
            // ...but perhaps not to its end: the order is stored, so its placement is over.
            _ = try? await self.placements.deleteOne(["_id": .string(order.id.hex)])
        }
        self.relay.notify()
    }

    /// Ends a placement without an order: writes `order-rejected` (the cart releases the checkout) and removes the
    /// placement, in one transaction. Returns the placement, or `nil` when it was already ended (placed or rejected).
    func reject(orderID: String, userID: String, reason: String) async throws -> Placement? {
        let origin = EventOrigin.current
        let event = OrderEvent(
            .rejected,
            orderId: orderID,
            userId: userID,
            products: [],
            total: 0,
            status: nil,
            reason: reason
        )
        let ended: Placement?
        do {
            ended = try await self.store.withTransaction { transaction in
                let placements = transaction.collection(Self.placementsName, as: Placement.self)
                guard let placement = try placements.findOne(["_id": .string(orderID)]) else { return nil }
                // The event first, the placement's end last (see place(_:)).
                try Outbox.append(event, to: Topics.orderEvents, origin: origin, in: transaction)
                guard try placements.deleteOne(["_id": .string(orderID)]) == 1 else { throw PlacementLost() }
                return placement
            }
        } catch is PlacementLost {
            ended = nil  // ended meanwhile by another actor; the abort took the event back
        } catch let error as MongoStoreError where error.code == .server || error.code == .writeConflict {
            guard try await self.placements.findOne(["_id": .string(orderID)]) == nil else { throw error }
            ended = nil
        }
        self.relay.notify()
        return ended
    }

    // MARK: - State changes

    /// Moves the order from one of `from` to `to` and writes its `order-events` event, in one transaction; returns
    /// the order afterwards, or `nil` when it was not in one of `from` (or does not exist): then nothing changed.
    /// - Parameter set: further fields to set with the status (shipping details).
    func transition(
        _ id: MongoObjectID,
        from: [OrderStatus],
        to: OrderStatus,
        reason: String? = nil,
        set extra: MongoDocument = [:]
    ) async throws -> Order? {
        var set: MongoDocument = ["status": .string(to.rawValue), "updatedAt": .int(Date().epochMilliseconds)]
        if let reason { set.append("failureReason", .string(reason)) }
        for field in extra.fields { set.append(field.key, field.value) }
        let filter: MongoDocument = [
            "_id": .objectID(id), "status": ["$in": .array(from.map { .string($0.rawValue) })],
        ]
        let update: MongoDocument = ["$set": .document(set)]
        let origin = EventOrigin.current
        let changed: Order?
        do {
            changed = try await self.store.withTransaction { transaction in
                guard
                    let order = try transaction.collection(Self.ordersName, as: Order.self)
                        .findOneAndUpdate(filter, update)
                else { return nil }
                try Outbox.append(order.event, to: Topics.orderEvents, origin: origin, in: transaction)
                return order
            }
        } catch let error as MongoStoreError where error.code == .server || error.code == .writeConflict {
            // Gap 13: read the outcome back.
            guard let order = try await self.find(id.hex), order.status == to else { throw error }
            self.relay.notify()
            return order
        }
        if changed != nil { self.relay.notify() }
        return changed
    }

    /// `pending` orders created at or before `cutoff` (epoch ms), oldest first.
    func pending(createdBefore cutoff: Int64, limit: Int = 100) async throws -> [Order] {
        try await self.orders.find(
            ["status": "pending", "createdAtMs": ["$lte": .int(cutoff)]],
            sort: ["createdAtMs": 1],
            limit: limit
        )
    }

    // MARK: - Idempotency keys

    enum ClaimOutcome: Sendable {
        /// This request holds the key now (as `owner`).
        case claimed(owner: String)
        /// The key answered before: the stored response.
        case replay(status: Int, body: String)
        /// The key was used with another request.
        case mismatch
        /// The first request with this key has not answered (it is running, or died): its record.
        case inProgress(IdempotencyRecord)
    }

    /// Claims `id` for a request with fingerprint `hash` that will place order `orderID`: an insert on the unique
    /// `_id`, so of concurrent duplicates exactly one wins. An expired key (`expiresAt` passed), or one still
    /// `processing` after `staleMillis` without an order id (written before claims carried it; its request died
    /// early), is taken over.
    func claim(
        id: String,
        hash: String,
        orderID: String,
        ttlMillis: Int64,
        staleMillis: Int64
    ) async throws -> ClaimOutcome {
        for _ in 0..<5 {
            let now = Date().epochMilliseconds
            let owner = UUID().uuidString
            let record = IdempotencyRecord(
                id: id,
                requestHash: hash,
                state: "processing",
                owner: owner,
                orderId: orderID,
                createdAt: now,
                expiresAt: now + ttlMillis
            )
            do {
                try await self.keys.insert(record)
                return .claimed(owner: owner)
            } catch let error as MongoStoreError where error.code == .duplicateKey {}
            guard let existing = try await self.keys.findOne(["_id": .string(id)]) else { continue }
            let stale = existing.state == "processing" && existing.createdAt <= now - staleMillis
            if existing.expiresAt <= now || (stale && existing.orderId == nil && existing.requestHash == hash) {
                if let owner = try await self.takeOver(existing, orderID: orderID, ttlMillis: ttlMillis) {
                    return .claimed(owner: owner)
                }
                continue
            }
            guard existing.requestHash == hash else { return .mismatch }
            if existing.state == "done", let status = existing.responseStatus, let body = existing.responseBody {
                return .replay(status: status, body: body)
            }
            return .inProgress(existing)
        }
        throw MongoStoreError(.writeConflict, "the idempotency key kept changing")
    }

    /// Takes the key over from the request that holds `existing` (conditioned on that holder, so of concurrent
    /// takers one wins): a fresh `processing` claim for order `orderID`. Returns the new owner, or `nil` when another
    /// request took it first.
    func takeOver(_ existing: IdempotencyRecord, orderID: String, ttlMillis: Int64) async throws -> String? {
        let now = Date().epochMilliseconds
        let owner = UUID().uuidString
        let record = IdempotencyRecord(
            id: existing.id,
            requestHash: existing.requestHash,
            state: "processing",
            owner: owner,
            orderId: orderID,
            createdAt: now,
            expiresAt: now + ttlMillis
        )
        let result = try await self.keys.replaceOne(
            ["_id": .string(existing.id), "owner": .string(existing.owner)],
            with: record
        )
        return result.matchedCount == 1 ? owner : nil
    }

    /// Stores the answer, so a repeat of the request gets it back.
    func complete(key id: String, owner: String, status: Int, body: String) async throws {
        try await self.keys.updateOne(
            ["_id": .string(id), "owner": .string(owner)],
            ["$set": ["state": "done", "responseStatus": .int(status), "responseBody": .string(body)]]
        )
    }

    /// Gives the key up (the request failed before creating anything), so a retry runs again.
    func release(key id: String, owner: String) async throws {
        try await self.keys.deleteOne(["_id": .string(id), "owner": .string(owner), "state": "processing"])
    }
}
