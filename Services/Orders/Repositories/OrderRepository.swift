import Foundation
import MongoStore

/// Orders in `OrderService.orders` and claimed idempotency keys in `OrderService.idempotencyKeys`. Thread-safe.
///
/// State changes are single-document conditional updates on `status` (`findAndModify` with the allowed source states
/// in the filter), atomic on both MongoDB and the dev store, so two actors never both win a transition and nothing
/// leaves a final state except along the state machine. No transactions (dev-store gap 13), no dates in `$set`
/// (gap 3), no ObjectIds outside `_id` (gap 1).
struct OrderRepository: Sendable {
    let orders: MongoCollection<Order>
    let keys: MongoCollection<IdempotencyRecord>

    init(store: MongoStore) {
        self.orders = store.collection("orders", as: Order.self)
        self.keys = store.collection("idempotencyKeys", as: IdempotencyRecord.self)
    }

    func prepare() async throws {
        try await self.orders.createIndexes([
            MongoIndex(keys: ["userId": 1, "createdAtMs": -1]),
            MongoIndex(keys: ["status": 1, "createdAtMs": 1]),
        ])
        // `idempotencyKeys` is keyed by `_id` only (gap 10: never index `_id`); make sure the collection exists.
        _ = try await self.keys.count()
    }

    func insert(_ order: Order) async throws {
        try await self.orders.insert(order)
    }

    func find(_ id: String) async throws -> Order? {
        guard let objectID = MongoObjectID(id) else { return nil }
        return try await self.orders.findOne(["_id": .objectID(objectID)])
    }

    /// The user's orders, newest first.
    func list(userID: String) async throws -> [Order] {
        try await self.orders.find(["userId": .string(userID)], sort: ["createdAtMs": -1])
    }

    /// Moves the order from one of `from` to `to`; returns the order afterwards, or `nil` when it was not in one of
    /// `from` (or does not exist): then nothing changed.
    func transition(
        _ id: MongoObjectID,
        from: [OrderStatus],
        to: OrderStatus,
        reason: String? = nil
    ) async throws -> Order? {
        var set: MongoDocument = ["status": .string(to.rawValue), "updatedAt": .int(Date().epochMilliseconds)]
        if let reason { set.append("failureReason", .string(reason)) }
        return try await self.orders.findOneAndUpdate(
            ["_id": .objectID(id), "status": ["$in": .array(from.map { .string($0.rawValue) })]],
            ["$set": .document(set)]
        )
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
        /// The first request with this key is still running.
        case inProgress(orderId: String?)
        /// The first request stopped (crashed) after choosing its order and never answered: the order speaks for it.
        case abandoned(orderId: String)
    }

    /// Claims `id` for a request with fingerprint `hash`: an insert on the unique `_id`, so of concurrent duplicates
    /// exactly one wins. An expired key (`expiresAt` passed) is taken over with a replace conditioned on its holder.
    /// A `processing` claim older than `staleMillis` belongs to a request that died: without an order it is taken
    /// over, with one it is answered from that order.
    func claim(id: String, hash: String, ttlMillis: Int64, staleMillis: Int64) async throws -> ClaimOutcome {
        for _ in 0..<5 {
            let now = Date().epochMilliseconds
            let owner = UUID().uuidString
            let record = IdempotencyRecord(
                id: id,
                requestHash: hash,
                state: "processing",
                owner: owner,
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
                let result = try await self.keys.replaceOne(
                    ["_id": .string(id), "owner": .string(existing.owner)],
                    with: record
                )
                if result.matchedCount == 1 { return .claimed(owner: owner) }
                continue
            }
            guard existing.requestHash == hash else { return .mismatch }
            if existing.state == "done", let status = existing.responseStatus, let body = existing.responseBody {
                return .replay(status: status, body: body)
            }
            if stale, let orderID = existing.orderId { return .abandoned(orderId: orderID) }
            return .inProgress(orderId: existing.orderId)
        }
        return .inProgress(orderId: nil)
    }

    /// Records the order the claimed request created.
    func attach(key id: String, owner: String, orderID: String) async throws {
        try await self.keys.updateOne(
            ["_id": .string(id), "owner": .string(owner)],
            ["$set": ["orderId": .string(orderID)]]
        )
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
