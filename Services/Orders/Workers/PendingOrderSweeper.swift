import Foundation
import Logging
import MongoStore

/// Nothing stays half-done after a crash. Each pass (run by a `PeriodicWorker` every `ORDER_SWEEP_INTERVAL_MS`):
/// - rejects every placement older than `placementTimeout` (its request died between checking the cart out and
///   storing the order): `order-rejected` gives the cart its lines back and inventory its held stock;
/// - settles every order `pending` for longer than `pendingTimeout` (its request died before the charge was answered,
///   or the payment event was lost) by asking the payment service (`GET /payments?orderId=`): a successful payment
///   confirms it; none, or only failed ones, fails it (`order-failed`: the same releases). When the payment service
///   cannot be asked, the order waits for the next pass.
///
/// The releases are the events' effects, written in the transaction that ends the placement or order, so a crash
/// right after it loses none of them; no client waits for a sweep, so there is no call to inventory here.
///
/// The timeouts are the longest a live request can take for those steps (``OrderSettings``), so the sweeper does not
/// race a request that is still working; if it ever does, the outcome stays right: a placement is ended by exactly
/// one of "stored" and "rejected" (one transaction each), and a charge that lands after the order failed is refunded
/// by the payment-events consumer.
struct PendingOrderSweeper: Sendable {
    let repository: OrderRepository
    let peers: Peers
    let placementTimeout: Duration
    let pendingTimeout: Duration
    let logger: Logger

    /// One pass. Returns how many placements and orders it settled.
    @discardableResult
    func sweep() async throws -> Int {
        let now = Date().epochMilliseconds
        var settled = 0
        for placement in try await self.repository.placements(
            createdBefore: now - Int64(self.placementTimeout / .milliseconds(1))
        ) {
            guard
                try await self.repository.reject(
                    orderID: placement.id,
                    userID: placement.userId,
                    reason: "the request placing it stopped"
                ) != nil
            else { continue }
            self.logger.warning("abandoned placement rejected", metadata: ["order.id": "\(placement.id)"])
            settled += 1
        }
        for order in try await self.repository.pending(
            createdBefore: now - Int64(self.pendingTimeout / .milliseconds(1))
        ) {
            let paid: Bool
            do {
                paid = try await self.peers.hasSuccessfulPayment(orderID: order.id.hex)
            } catch {
                self.logger.warning(
                    "pending order left for the next pass: payment service unavailable",
                    metadata: ["order.id": "\(order.id.hex)", "error": "\(error)"]
                )
                continue
            }
            if paid {
                if try await self.repository.transition(order.id, from: [.pending], to: .confirmed) != nil {
                    self.logger.info(
                        "pending order confirmed by the sweeper",
                        metadata: ["order.id": "\(order.id.hex)"]
                    )
                    settled += 1
                }
            } else if try await self.repository.transition(
                order.id,
                from: [.pending],
                to: .failed,
                reason: "no payment within the pending timeout"
            ) != nil {
                self.logger.warning("pending order failed by the sweeper", metadata: ["order.id": "\(order.id.hex)"])
                settled += 1
            }
        }
        return settled
    }
}
