import Foundation
import MongoStore
import ServiceKit
import StorefrontContracts

/// Where payments live (`payments`), with the transactional outbox: every state a client or consumer must hear about
/// (charged, failed, refunded) is written together with its `payment-events` record, and the relay is notified after
/// the commit.
///
/// One successful charge per order: a charge starts by inserting an in-flight (`processing`) payment whose unique
/// `chargeKey` is the order id. Exactly one concurrent request can insert it; the others wait for it to settle and
/// answer with the result. A decline moves the key aside (`failed:<id>`), a transient processor failure deletes the
/// claim, so the order may be paid again after either.
struct PaymentRepository: Sendable {
    static let collectionName = "payments"

    let store: MongoStore
    let relay: OutboxRelay
    /// How long a request waits for another request's in-flight charge of the same order to settle.
    var settleWait: Duration = .seconds(10)
    /// An in-flight claim older than this is taken for the remains of a crashed request and removed.
    var staleClaimAge: TimeInterval = 60

    var payments: MongoCollection<Payment> { self.store.collection(Self.collectionName, as: Payment.self) }

    /// Creates the collections and indexes (unique `chargeKey`, `orderId` + `createdAt`, the outbox). Call at startup.
    func prepare() async throws {
        try await self.payments.createIndexes([
            MongoIndex(keys: ["chargeKey": 1], unique: true),
            MongoIndex(keys: ["orderId": 1, "createdAt": -1]),
        ])
        try await Outbox.prepare(self.store)
    }

    private static var visibleFilter: MongoValue {
        ["$in": .array(Payment.Status.visible.map { .string($0.rawValue) })]
    }

    /// A payment clients may see (not an in-flight claim).
    func find(id: MongoObjectID) async throws -> Payment? {
        try await self.payments.findOne(["_id": .objectID(id), "status": Self.visibleFilter])
    }

    /// The order's payments, newest first (failed attempts included; in-flight claims not).
    func list(orderID: String) async throws -> [Payment] {
        try await self.payments.find(
            ["orderId": .string(orderID), "status": Self.visibleFilter],
            sort: ["createdAt": -1, "_id": -1]
        )
    }

    /// The order's charged (or in-flight) payment, if any.
    func findCharge(orderID: String) async throws -> Payment? {
        try await self.payments.findOne(["chargeKey": .string(orderID)])
    }

    // MARK: Charging

    enum ClaimOutcome: Sendable {
        /// This request owns the order's charge now.
        case claimed(Payment)
        /// The order is already charged: this payment (success, refunded or partially refunded).
        case charged(Payment)
    }

    /// Claims the order's charge by inserting `claim` (status `processing`, `chargeKey` = order id), or returns the
    /// order's existing charge. Waits while another request's charge of the same order is in flight, looking again
    /// after a ``PollPause``.
    /// - Throws: 503 `payment_in_progress` when another charge stays in flight longer than ``settleWait`` (retry).
    func claim(_ claim: Payment) async throws -> ClaimOutcome {
        let deadline = ContinuousClock.now + self.settleWait
        var pause = PollPause()
        while true {
            do {
                try await self.payments.insert(claim)
                return .claimed(claim)
            } catch let error as MongoStoreError where error.code == .duplicateKey {
                // Someone else holds the key: answer with their charge once it settled.
            } catch let error as MongoStoreError where error.code == .server && error.serverCode == 8 {
                // The dev store can fail an insert that races other writes of the database with code 8, the document
                // stored or not (dev-store gap 20): read it back; if it is not there, the loop below looks again. Any
                // other server error is thrown as before.
                if try await self.payments.findOne(["_id": .objectID(claim.id)]) != nil { return .claimed(claim) }
            }
            if let existing = try await self.findCharge(orderID: claim.orderId) {
                if existing.status != .processing { return .charged(existing) }
                if Date().timeIntervalSince(existing.updatedAt) > self.staleClaimAge {
                    // Left by a request that died mid-charge: free the key (only if it is still that claim).
                    try await self.payments.deleteOne(["_id": .objectID(existing.id), "status": "processing"])
                    continue
                }
            }
            guard ContinuousClock.now < deadline else {
                throw APIError.unavailable(
                    "a payment for this order is being processed; try again shortly",
                    code: "payment_in_progress"
                )
            }
            try await pause.sleep()
        }
    }

    /// Gives up a claim without a charge (the processor was unavailable): nothing remains, so the order may be paid
    /// again.
    func release(_ claim: Payment) async throws {
        try await self.payments.deleteOne(["_id": .objectID(claim.id), "status": "processing"])
    }

    /// The claim is no longer in flight (it was taken for stale and removed).
    struct ClaimLost: Error {}

    /// Records the processor's answer for a claim: `success` (keeps the key) or `failed` (moves the key aside), and
    /// its event, in one transaction. Returns the payment as stored.
    /// - Throws: ``ClaimLost`` when the claim is gone.
    func settle(
        _ claim: Payment,
        as status: Payment.Status,
        gatewayTxnId: String,
        failureReason: String?
    ) async throws -> Payment {
        precondition(status == .success || status == .failed)
        var settled = claim
        settled.status = status
        settled.gatewayTxnId = gatewayTxnId
        settled.failureReason = failureReason
        if status == .failed { settled.chargeKey = "failed:\(claim.id.hex)" }
        let event = PaymentEvent(
            status == .success ? .succeeded : .failed,
            payment: settled,
            amountCents: claim.amountCents
        )
        var set: MongoDocument = [
            "status": .string(status.rawValue),
            "gatewayTxnId": .string(gatewayTxnId),
            "chargeKey": .string(settled.chargeKey),
        ]
        if let failureReason { set.append("failureReason", .string(failureReason)) }
        let update: MongoDocument = ["$set": .document(set), "$currentDate": ["updatedAt": true]]
        let origin = EventOrigin.current
        do {
            try await self.store.withTransaction { transaction in
                let matched = try transaction.collection(Self.collectionName, as: Payment.self)
                    .updateOne(["_id": .objectID(claim.id), "status": "processing"], update).matchedCount
                guard matched == 1 else { throw ClaimLost() }
                try Outbox.append(event, to: Topics.paymentEvents, origin: origin, in: transaction)
            }
        } catch let error as MongoStoreError where error.code == .server || error.code == .writeConflict {
            // The dev store does not isolate concurrent transactions (dev-store-gaps.md, gap 13): a failed commit may
            // have left its writes. Read the outcome back.
            guard let stored = try await self.payments.findOne(["_id": .objectID(claim.id)]), stored.status == status
            else { throw error }
            self.relay.notify()
            return stored
        }
        self.relay.notify()
        return try await self.payments.findOne(["_id": .objectID(claim.id)]) ?? settled
    }

    // MARK: Refunds

    enum RefundOutcome: Sendable {
        case refunded(Payment)
        case notFound
        case notRefundable(Payment.Status)
        case exceedsCharge(remainingCents: Int64)
        /// The `Idempotency-Key` was used for a refund of another amount.
        case keyReused
    }

    /// Refunds `cents` (default: everything not yet refunded) of a `success` or `partially_refunded` payment and
    /// writes its `refunded` event, in one transaction guarded by the refunded total read before (optimistic: a
    /// concurrent refund makes this one re-read and re-check, so the refunds never exceed the charge).
    /// With a `key`, the refund happens at most once: a repeat answers the payment as it is (`keyReused` when the
    /// repeat asks for another amount).
    func refund(id: MongoObjectID, cents requested: Int64?, key: String? = nil) async throws -> RefundOutcome {
        for _ in 0..<20 {
            guard let payment = try await self.find(id: id) else { return .notFound }
            if let key, let done = payment.refundKeys?[key] {
                return requested == nil || requested == done ? .refunded(payment) : .keyReused
            }
            guard Payment.Status.refundable.contains(payment.status) else { return .notRefundable(payment.status) }
            let remaining = payment.amountCents - payment.refundedCents
            let cents = requested ?? remaining
            guard cents <= remaining, cents > 0 else { return .exceedsCharge(remainingCents: remaining) }
            let total = payment.refundedCents + cents
            let status: Payment.Status = total == payment.amountCents ? .refunded : .partiallyRefunded
            var draftEvent = PaymentEvent(.refunded, payment: payment, amountCents: cents)
            draftEvent.fullyRefunded = status == .refunded
            var draftFilter: MongoDocument = [
                "_id": .objectID(id), "status": .string(payment.status.rawValue),
                "refundedCents": .int(payment.refundedCents),
            ]
            var changes: MongoDocument = [
                "status": .string(status.rawValue), "refundedCents": .int(total),
                "refundedAmount": .double(Payment.dollars(total)),
            ]
            if let key {
                draftFilter.append("refundKeys.\(key)", ["$exists": false])
                changes.append("refundKeys.\(key)", .int(cents))
            }
            let update: MongoDocument = ["$set": .document(changes), "$currentDate": ["updatedAt": true]]
            let origin = EventOrigin.current
            let (event, filter) = (draftEvent, draftFilter)
            let applied: Bool
            do {
                applied = try await self.store.withTransaction { transaction in
                    let matched = try transaction.collection(Self.collectionName, as: Payment.self)
                        .updateOne(filter, update).matchedCount
                    guard matched == 1 else { return false }
                    try Outbox.append(event, to: Topics.paymentEvents, origin: origin, in: transaction)
                    return true
                }
            } catch let error as MongoStoreError where error.code == .server || error.code == .writeConflict {
                // Gap 13: the outcome of a failed commit on the dev store is unknown; read it back.
                guard let stored = try await self.payments.findOne(["_id": .objectID(id)]),
                    stored.refundedCents == total
                else { throw error }
                self.relay.notify()
                return .refunded(stored)
            }
            guard applied else { continue }  // a concurrent refund won: re-read and re-check
            self.relay.notify()
            return .refunded(try await self.payments.findOne(["_id": .objectID(id)]) ?? payment)
        }
        throw APIError.conflict("the payment is being refunded concurrently; try again", code: "refund_in_progress")
    }
}
