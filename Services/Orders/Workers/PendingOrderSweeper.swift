import Foundation
import Logging
import MongoStore

/// Nothing stays `pending` forever: each pass (run by a `PeriodicWorker` every `ORDER_SWEEP_INTERVAL_MS`) settles
/// every order pending for longer than `timeout` by asking the payment service (`GET /payments?orderId=`): a
/// successful payment confirms it (and clears the cart); none, or only failed ones, fails it and releases its
/// reservation. When the payment service cannot be asked, the order waits for the next pass.
struct PendingOrderSweeper: Sendable {
    let repository: OrderRepository
    let peers: Peers
    let timeout: Duration
    let logger: Logger

    /// One pass. Returns how many orders it settled.
    @discardableResult
    func sweep() async throws -> Int {
        let timeoutMillis = Int64(self.timeout / .milliseconds(1))
        var settled = 0
        for order in try await self.repository.pending(createdBefore: Date().epochMilliseconds - timeoutMillis) {
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
                    await self.peers.clearCart(order.userId)
                    settled += 1
                }
            } else if try await self.repository.transition(
                order.id,
                from: [.pending],
                to: .failed,
                reason: "no payment within the pending timeout"
            ) != nil {
                self.logger.warning("pending order failed by the sweeper", metadata: ["order.id": "\(order.id.hex)"])
                await self.peers.withdrawReservationLater(order.reservationId)
                settled += 1
            }
        }
        return settled
    }
}
