import Foundation
import Logging
import MongoStore
import ServiceKit
import StorefrontContracts

/// The reservation lifecycle: reserve (all or nothing, keyed by order id), commit, cancel, expire, the late
/// commit of a reservation that already gave its stock back, and the withdrawal of an order that will not go ahead.
///
/// Every transition is a conditional update on the reservation's `status` and `stock` fields (so no transition
/// leaves a final state and two actors cannot both win), which also records the stock movement now due; the
/// movement itself is a series of idempotent per-item steps (``StockLedger``) and is marked done at the end. Any
/// actor (the request, the payment consumer, the sweeper) may run or re-run the remaining steps of a movement it
/// finds half-done, so a crash between steps is repaired by the next look.
struct Reservations: Sendable {
    let collection: MongoCollection<Reservation>
    let ledger: StockLedger
    let outbox: MongoCollection<OutboxRecord>
    let ttl: Duration
    /// How long a reservation may stay `reserving` before the sweeper considers its request dead and rolls it back.
    let reservingGrace: Duration

    init(store: MongoStore, ledger: StockLedger, ttl: Duration, reservingGrace: Duration = .seconds(30)) {
        self.collection = store.collection("reservations", as: Reservation.self)
        self.ledger = ledger
        self.outbox = store.collection(Outbox.collectionName, as: OutboxRecord.self)
        self.ttl = ttl
        self.reservingGrace = reservingGrace
    }

    func prepare() async throws {
        try await self.collection.createIndexes([
            MongoIndex(keys: ["orderId": 1], unique: true),
            MongoIndex(keys: ["status": 1, "expiresAt": 1]),
            MongoIndex(keys: ["stock": 1]),
        ])
    }

    /// How many reservations are in each status (every status, zeros included): the `storefront_reservations` gauge.
    func countsByStatus() async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for status in Reservation.Status.allCases {
            counts[status.rawValue] = try await self.collection.count(["status": .string(status.rawValue)])
        }
        return counts
    }

    func find(id: String) async throws -> Reservation? {
        try await self.collection.findOne(["_id": .string(id)])
    }

    func find(orderID: String) async throws -> Reservation? {
        try await self.collection.findOne(["orderId": .string(orderID)])
    }

    // MARK: - Reserve

    enum ReserveOutcome: Equatable {
        case created(Reservation)
        case existing(Reservation)
        case insufficient(productID: String)
        case busy
    }

    /// Holds every item for `orderID`, or none. A second request for the same order (also a concurrent one) gets
    /// the same reservation, holding stock once: the unique index on `orderId` admits one reservation document,
    /// and only the request that inserted it moves stock.
    func reserve(orderID: String, items: [Reservation.Item]) async throws -> ReserveOutcome {
        for _ in 0..<50 {
            let now = Date().epochMilliseconds
            let reservation = Reservation(
                id: MongoObjectID().hex,
                orderId: orderID,
                status: .pending,
                stock: .reserving,
                items: items,
                expiresAt: now + Int64(self.ttl / .milliseconds(1)),
                createdAt: now,
                updatedAt: now
            )
            do {
                try await self.collection.insert(reservation)
            } catch let error as MongoStoreError where error.code == .duplicateKey {
                // Another request owns this order's reservation: wait until it has finished holding, then answer
                // with it; if it failed (and was removed), try again ourselves.
                if let existing = try await self.settled(orderID: orderID) { return .existing(existing) }
                continue
            }
            return try await self.hold(reservation)
        }
        return .busy
    }

    /// The order's reservation once it is past `reserving`; `nil` when there is none (anymore). Polls with a
    /// ``PollPause``.
    private func settled(orderID: String) async throws -> Reservation? {
        let deadline = ContinuousClock.now + .seconds(10)
        var pause = PollPause()
        while ContinuousClock.now < deadline {
            guard let existing = try await self.find(orderID: orderID) else { return nil }
            if existing.stock != .reserving { return existing }
            try await pause.sleep()
        }
        throw APIError.unavailable(
            "the reservation for this order is still being made; try again",
            code: "reservation_busy"
        )
    }

    private func hold(_ reservation: Reservation) async throws -> ReserveOutcome {
        for item in reservation.items {
            guard try await self.ledger.hold(reservation.id, item) else {
                try await self.abandon(reservation)
                return .insufficient(productID: item.productId)
            }
        }
        if let held = try await self.collection.findOneAndUpdate(
            ["_id": .string(reservation.id), "stock": "reserving"],
            ["$set": ["stock": "held", "updatedAt": .int(Date().epochMilliseconds)]]
        ) {
            return .created(held)
        }
        // The sweeper took it for dead meanwhile (it took longer than the grace) and rolled it back.
        return .busy
    }

    /// Gives back whatever a failed or dead `reserving` reservation holds and removes it, so the order may try again.
    func abandon(_ reservation: Reservation) async throws {
        for item in reservation.items {
            try await self.ledger.release(reservation.id, item)
        }
        try await self.collection.deleteOne(["_id": .string(reservation.id), "stock": "reserving"])
    }

    // MARK: - Transitions

    /// Moves a PENDING, fully held reservation to `status`, recording the movement due; returns it then.
    private func transition(
        _ id: String,
        to status: Reservation.Status,
        stock: Reservation.Stock
    ) async throws
        -> Reservation?
    {
        try await self.collection.findOneAndUpdate(
            ["_id": .string(id), "status": "PENDING", "stock": "held"],
            [
                "$set": [
                    "status": .string(status.rawValue), "stock": .string(stock.rawValue),
                    "updatedAt": .int(Date().epochMilliseconds),
                ]
            ]
        )
    }

    /// Runs the remaining steps of the movement a reservation is in (`selling`, `releasing`, `returning`) and marks it
    /// done. Idempotent. Returns the reservation afterwards.
    @discardableResult
    func finishMovement(_ reservation: Reservation) async throws -> Reservation {
        let done: Reservation.Stock
        switch reservation.stock {
        case .selling:
            for item in reservation.items { try await self.ledger.sell(reservation.id, item) }
            done = .sold
        case .releasing:
            for item in reservation.items { try await self.ledger.release(reservation.id, item) }
            done = .released
        case .returning:
            for item in reservation.items { try await self.ledger.unsell(reservation.id, item) }
            done = .released
        default:
            return reservation
        }
        if let updated = try await self.collection.findOneAndUpdate(
            ["_id": .string(reservation.id), "stock": .string(reservation.stock.rawValue)],
            ["$set": ["stock": .string(done.rawValue), "updatedAt": .int(Date().epochMilliseconds)]]
        ) {
            return updated
        }
        return try await self.find(id: reservation.id) ?? reservation
    }

    enum CommitOutcome: Equatable {
        case committed
        case alreadyCommitted
        case lateCommitted
        case lost(reason: String)
        case alreadyLost
        /// The order was withdrawn (failed or cancelled) before its payment arrived; the order service refunds it.
        case withdrawn
        case notFound
        /// Still being reserved (cannot be: payment follows the reserve answer); retry later.
        case notReady
    }

    /// Payment succeeded: PENDING → COMMITTED (reserved → sold). For an EXPIRED or CANCELLED reservation whose order
    /// was not withdrawn, sells the same items again from available stock if every one is there (directly to sold);
    /// otherwise records the loss and writes a `reservation-lost` event to the outbox.
    func commit(id: String) async throws -> CommitOutcome {
        if let moved = try await self.transition(id, to: .committed, stock: .selling) {
            try await self.finishMovement(moved)
            return .committed
        }
        guard var reservation = try await self.find(id: id) else { return .notFound }
        switch reservation.status {
        case .committed:
            if reservation.stock == .reselling { return try await self.resell(reservation) }
            try await self.finishMovement(reservation)
            return .alreadyCommitted
        case .pending:
            return .notReady
        case .expired, .cancelled:
            if reservation.outcome == "lost" { return .alreadyLost }
            if reservation.outcome == Self.withdrawn { return .withdrawn }
            if reservation.stock == .releasing { reservation = try await self.finishMovement(reservation) }
            if reservation.stock == .released {
                guard
                    let claimed = try await self.collection.findOneAndUpdate(
                        ["_id": .string(id), "stock": "released", "outcome": ["$exists": false]],
                        ["$set": ["stock": "reselling", "updatedAt": .int(Date().epochMilliseconds)]]
                    )
                else { return try await self.commit(id: id) }  // changed under us: look again
                reservation = claimed
            }
            guard reservation.stock == .reselling else { return .notReady }
            return try await self.resell(reservation)
        }
    }

    /// The late commit: sell every item from available stock, or none and report the loss.
    private func resell(_ reservation: Reservation) async throws -> CommitOutcome {
        var sold: [Reservation.Item] = []
        for item in reservation.items {
            if try await self.ledger.resell(reservation.id, item) {
                sold.append(item)
                continue
            }
            for done in sold { try await self.ledger.unsell(reservation.id, done) }
            let reason =
                "insufficient stock for product \(item.productId) after the reservation was \(reservation.status.rawValue.lowercased())"
            // The event first (a deterministic id: a retry rewrites the same record, consumers deduplicate on it),
            // then the mark that ends the attempt.
            try await self.appendLostEvent(reservation, reason: reason)
            _ = try await self.collection.updateOne(
                ["_id": .string(reservation.id), "stock": "reselling"],
                ["$set": ["stock": "released", "outcome": "lost", "updatedAt": .int(Date().epochMilliseconds)]]
            )
            return .lost(reason: reason)
        }
        _ = try await self.collection.updateOne(
            ["_id": .string(reservation.id), "stock": "reselling"],
            [
                "$set": [
                    "status": "COMMITTED", "stock": "sold", "outcome": "late-commit",
                    "updatedAt": .int(Date().epochMilliseconds),
                ]
            ]
        )
        return .lateCommitted
    }

    private func appendLostEvent(_ reservation: Reservation, reason: String) async throws {
        let event = InventoryEvent.reservationLost(
            orderId: reservation.orderId,
            reservationId: reservation.id,
            reason: reason
        )
        let record = try Outbox.record(event, to: Topics.inventoryEvents, origin: .current)
        do {
            try await self.outbox.insert(record)
        } catch let error as MongoStoreError where error.code == .duplicateKey {
            // Written by an earlier attempt and not yet published: nothing to add.
        }
    }

    enum CancelOutcome: Equatable {
        case cancelled
        case alreadyFinal(Reservation.Status)
        case notFound
        case notReady
    }

    /// Payment failed: PENDING → CANCELLED (reserved → available). Refused for COMMITTED. A later payment success may
    /// still sell the items again (see ``commit(id:)``); ``withdraw(id:)`` is the order's final word.
    func cancel(id: String) async throws -> CancelOutcome {
        if let moved = try await self.transition(id, to: .cancelled, stock: .releasing) {
            try await self.finishMovement(moved)
            return .cancelled
        }
        guard let reservation = try await self.find(id: id) else { return .notFound }
        if reservation.status == .pending { return .notReady }
        try await self.finishMovement(reservation)
        return .alreadyFinal(reservation.status)
    }

    static let withdrawn = "withdrawn"

    enum WithdrawOutcome: Equatable {
        case withdrawn(Reservation)
        case notFound
        /// Still being reserved, or a late commit is running: try again shortly.
        case notReady
    }

    /// The order will not go ahead (it failed, was cancelled, or was refunded before shipping): whatever the
    /// reservation holds goes back on sale, and no later payment success sells it again. PENDING → CANCELLED
    /// (reserved → available); COMMITTED → CANCELLED (sold → available); EXPIRED and CANCELLED keep their status.
    /// Each is marked `withdrawn` in the same conditional write, so a concurrent late commit and this cannot both win.
    /// Idempotent.
    func withdraw(id: String) async throws -> WithdrawOutcome {
        for _ in 0..<20 {
            guard var reservation = try await self.find(id: id) else { return .notFound }
            if reservation.outcome == Self.withdrawn {
                return .withdrawn(try await self.finishMovement(reservation))
            }
            if reservation.stock == .selling || reservation.stock == .releasing {
                reservation = try await self.finishMovement(reservation)
            }
            let next: Reservation.Stock
            switch (reservation.status, reservation.stock) {
            case (.pending, .held): next = .releasing
            case (.committed, .sold): next = .returning
            case (.expired, .released), (.cancelled, .released): next = .released
            case (.pending, .reserving), (_, .reselling): return .notReady
            default: continue  // moved meanwhile: look again
            }
            if let moved = try await self.markWithdrawn(reservation, stock: next) {
                return .withdrawn(try await self.finishMovement(moved))
            }
        }
        return .notReady
    }

    /// Marks the reservation `withdrawn` with the stock movement now due, conditioned on it being as read (status,
    /// stock and outcome), so a concurrent commit, late commit or withdrawal and this cannot both win. Returns it then.
    private func markWithdrawn(_ reservation: Reservation, stock next: Reservation.Stock) async throws -> Reservation? {
        let outcome: MongoValue = reservation.outcome.map { .string($0) } ?? ["$exists": false]
        return try await self.collection.findOneAndUpdate(
            [
                "_id": .string(reservation.id), "status": .string(reservation.status.rawValue),
                "stock": .string(reservation.stock.rawValue), "outcome": outcome,
            ],
            [
                "$set": [
                    "status": .string(reservation.status == .expired ? "EXPIRED" : "CANCELLED"),
                    "stock": .string(next.rawValue), "outcome": .string(Self.withdrawn),
                    "updatedAt": .int(Date().epochMilliseconds),
                ]
            ]
        )
    }

    enum ReleaseOutcome: Equatable {
        /// Its held units are back on sale (or it held none anymore); it is withdrawn now.
        case released(Reservation)
        /// Nothing to do: withdrawn already, lost after a late payment, or sold (see ``release(orderID:)``).
        case unchanged(Reservation)
        /// The order had no reservation: a withdrawn one holding nothing now stands in its place.
        case remembered
        /// Still being reserved, or a late commit is running: try again shortly.
        case notReady
    }

    /// The order ended without a sale (`order-failed`, `order-cancelled`, `order-rejected`): the units held for it go
    /// back on sale, and no later payment success sells them (the reservation is marked `withdrawn`, as by
    /// ``withdraw(id:)``). Sold units stay sold: they go back only with the money, which the order service refunds
    /// before it withdraws them. Idempotent.
    ///
    /// The request placing an order may reserve after its placement was already rejected (a slow request the order
    /// service's sweeper gave up on), so the rejection can arrive here first. Then a withdrawn reservation holding
    /// nothing is recorded for the order: the unique index on `orderId` makes that request's reserve answer with it,
    /// holding nothing, so no unit waits for the reservation's expiry. The order service also withdraws what it
    /// reserved when it finds its placement rejected, but a crash there would leave that undone.
    func release(orderID: String) async throws -> ReleaseOutcome {
        for _ in 0..<20 {
            guard var reservation = try await self.find(orderID: orderID) else {
                if try await self.insertWithdrawn(orderID: orderID) { return .remembered }
                continue  // a reserve inserted one meanwhile: look at it
            }
            if reservation.outcome == Self.withdrawn {
                return .unchanged(try await self.finishMovement(reservation))
            }
            if reservation.stock == .releasing { reservation = try await self.finishMovement(reservation) }
            let next: Reservation.Stock
            switch (reservation.status, reservation.stock) {
            case (.pending, .held):
                next = .releasing
            case (.expired, .released), (.cancelled, .released):
                // Lost after a late payment: nothing is held, and no later success sells it either.
                if reservation.outcome != nil { return .unchanged(reservation) }
                next = .released
            case (.committed, _):
                return .unchanged(reservation)
            case (.pending, .reserving), (_, .reselling):
                return .notReady
            default:
                continue  // moved meanwhile: look again
            }
            if let moved = try await self.markWithdrawn(reservation, stock: next) {
                return .released(try await self.finishMovement(moved))
            }
        }
        return .notReady
    }

    /// Inserts a withdrawn reservation holding nothing for an order that has none; `false` when it has one.
    private func insertWithdrawn(orderID: String) async throws -> Bool {
        let now = Date().epochMilliseconds
        do {
            try await self.collection.insert(
                Reservation(
                    id: MongoObjectID().hex,
                    orderId: orderID,
                    status: .cancelled,
                    stock: .released,
                    items: [],
                    expiresAt: now,
                    createdAt: now,
                    updatedAt: now,
                    outcome: Self.withdrawn
                )
            )
            return true
        } catch let error as MongoStoreError where error.code == .duplicateKey {
            return false
        }
    }

    // MARK: - Sweeping

    /// One sweeper pass: expires PENDING reservations past `expiresAt`, finishes movements left half-done, and rolls
    /// back `reserving` reservations whose request died. Returns how many reservations it expired.
    @discardableResult
    func sweep(logger: Logger) async throws -> Int {
        let now = Date().epochMilliseconds
        var expired = 0
        for candidate in try await self.collection.find(
            ["status": "PENDING", "stock": "held", "expiresAt": ["$lte": .int(now)]],
            limit: 200
        ) {
            if let moved = try await self.transition(candidate.id, to: .expired, stock: .releasing) {
                try await self.finishMovement(moved)
                expired += 1
                logger.info(
                    "reservation expired; stock released",
                    metadata: ["reservation.id": "\(moved.id)", "order.id": "\(moved.orderId)"]
                )
            }
        }
        for stuck in try await self.collection.find(
            ["stock": ["$in": ["selling", "releasing", "returning"]]],
            limit: 200
        ) {
            try await self.finishMovement(stuck)
        }
        let graceMillis = Int64(self.reservingGrace.components.seconds * 1000)
        for dead in try await self.collection.find(
            ["stock": "reserving", "updatedAt": ["$lte": .int(now - graceMillis)]],
            limit: 200
        ) {
            logger.warning(
                "rolling back a reservation whose request did not finish",
                metadata: ["reservation.id": "\(dead.id)"]
            )
            try await self.abandon(dead)
        }
        return expired
    }
}
