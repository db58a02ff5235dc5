import Foundation
import Logging
import ServiceKit
import StorefrontContracts

/// The order service's use of its peers: the contracts' clients (user, cart, product, inventory, payment), plus the
/// order-specific sequences built on them (a charge retried while its outcome is unknown, refunding every payment of
/// an order, withdrawing a reservation without waiting). An unreachable peer throws `ServiceClientError(.unavailable)`
/// (answered 503); an answer outside the peer's contract `.invalidResponse` (answered 502). Thread-safe.
struct Peers: Sendable {
    let users: UserClient
    let carts: CartClient
    let products: ProductClient
    let inventory: InventoryClient
    let payments: PaymentClient
    let logger: Logger

    init(client: ServiceClient, logger: Logger) {
        self.users = UserClient(client)
        self.carts = CartClient(client)
        self.products = ProductClient(client)
        self.inventory = InventoryClient(client)
        self.payments = PaymentClient(client)
        self.logger = logger
    }

    /// Withdraws the reservation (``InventoryClient/withdrawReservation(_:)``); an unknown one is logged.
    /// - Throws: `ServiceClientError(.unavailable)` when inventory cannot do it now (try again later).
    func withdrawReservation(_ reservationID: String) async throws {
        guard !reservationID.isEmpty else { return }
        if try await !self.inventory.withdrawReservation(reservationID) {
            self.logger.warning(
                "withdrawn reservation unknown to inventory",
                metadata: ["reservation.id": "\(reservationID)"]
            )
        }
    }

    /// ``withdrawReservation(_:)`` where the caller cannot wait: a failure is logged. It is the fast path only: the
    /// `order-events` event of the state change that came first makes inventory release held stock anyway, and a late
    /// payment success for the order is withdrawn and refunded by the payment-events consumer.
    func withdrawReservationLater(_ reservationID: String) async {
        do {
            try await self.withdrawReservation(reservationID)
        } catch {
            self.logger.warning(
                "reservation not withdrawn now; inventory releases it on the order's event",
                metadata: ["reservation.id": "\(reservationID)", "error": "\(error)"]
            )
        }
    }

    enum PaymentOutcome: Sendable, Equatable {
        /// Charged (200/201): the order can be confirmed now.
        case charged
        /// Accepted for later (202): the payment-events event settles the order.
        case accepted
        /// 402 (or an existing failed payment): final.
        case declined(String)
        /// 503, a timeout or no connection, after every attempt: outcome unknown on the payment side.
        case unavailable(String)
        /// Any other answer (404 `order_not_found`, 422 `amount_mismatch` …): nothing charged.
        case rejected(String)
    }

    /// Charges the order, retrying an unknown outcome (5xx, timeout, unreachable) `attempts` times with exponential
    /// backoff (200 ms, 400 ms, …). Safe to retry: the payment service charges an order at most once.
    func pay(_ charge: PaymentClient.Charge, attempts: Int) async -> PaymentOutcome {
        var last = "not attempted"
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(200 << min(attempt - 1, 5))) }
            do {
                switch try await self.payments.charge(charge) {
                case .charged: return .charged
                case .accepted: return .accepted
                case .declined(let reason): return .declined(reason)
                case .rejected(let reason): return .rejected(reason)
                }
            } catch let error as ServiceClientError where error.code == .invalidResponse {
                return .rejected("\(error)")
            } catch {
                last = "\(error)"
            }
            self.logger.warning(
                "payment attempt failed",
                metadata: ["order.id": "\(charge.orderId)", "attempt": "\(attempt + 1)", "error": "\(last)"]
            )
        }
        return .unavailable(last)
    }

    /// Refunds what is left of every successful payment of the order (also after a partial refund). Returns how many
    /// were refunded. Safe to repeat: the refund's key makes it happen once.
    /// - Throws: `ServiceClientError(.unavailable)` when the payment service cannot be asked now; `.invalidResponse`
    ///   when it refuses.
    @discardableResult
    func refundAll(orderID: String) async throws -> Int {
        var refunded = 0
        for payment in try await self.payments.payments(orderID: orderID) {
            guard case .string(let status)? = payment["status"],
                ["success", "partially_refunded"].contains(status.lowercased()),
                case .string(let id)? = payment["_id"]
            else { continue }
            // One key per order and payment: a cancel racing the payment-events consumer refunds once.
            try await self.payments.refund(paymentID: id, idempotencyKey: "order-\(orderID)-refund-\(id)")
            refunded += 1
        }
        return refunded
    }

    /// Whether the order has a successful payment: `true`, `false` (none or only failed ones).
    func hasSuccessfulPayment(orderID: String) async throws -> Bool {
        try await self.payments.payments(orderID: orderID).contains { payment in
            if case .string(let status)? = payment["status"] { return status.lowercased() == "success" }
            return false
        }
    }
}
