import ServiceKit

/// The order service's own settings. The time limits follow from the peer timeout (`HTTP_CLIENT_TIMEOUT_MS`) and the
/// payment attempts, so that recovery after a crash takes seconds, not minutes, and never overtakes a live request.
struct OrderSettings: Sendable {
    /// `order.payment.attempts` (`ORDER_PAYMENT_ATTEMPTS`), default 3: tries of `POST /payments` on 503/timeout.
    var paymentAttempts = 3
    /// How long `POST /order` may take from choosing the order id to storing the order (user check, checkout, prices,
    /// reservation: four peer calls at the full timeout, plus 5 s): a placement older than this belongs to a request
    /// that died, and is rejected by the sweeper; an `Idempotency-Key` held that long without a stored order is
    /// taken over by a retry.
    var placementTimeout: Duration
    /// `order.pending.timeout.seconds` (`ORDER_PENDING_TIMEOUT_SECONDS`): how long an order may stay `pending` before
    /// the sweeper settles it with the payment service. Default: every payment attempt at the full timeout, with
    /// its backoff, plus 5 s (20.6 s with the defaults).
    var pendingTimeout: Duration
    /// `order.sweep.interval.ms` (`ORDER_SWEEP_INTERVAL_MS`), default 5000.
    var sweepInterval: Duration = .seconds(5)
    /// How long an `Idempotency-Key` is remembered: 24 h, in milliseconds.
    var idempotencyTTL: Int64 = 24 * 3600 * 1000

    var placementTimeoutMillis: Int64 { Int64(self.placementTimeout / .milliseconds(1)) }

    init(runtime: ServiceRuntime) throws {
        if let value = try runtime.positiveSetting("order.payment.attempts") { self.paymentAttempts = value }
        let timeout = runtime.configuration.httpClientTimeout
        self.placementTimeout = timeout * 4 + .seconds(5)
        // Peers.pay waits 200 ms << (attempt - 1) before each retry.
        let backoff = (1..<max(1, self.paymentAttempts)).reduce(Duration.zero) {
            $0 + .milliseconds(200 << min($1 - 1, 5))
        }
        self.pendingTimeout = timeout * self.paymentAttempts + backoff + .seconds(5)
        if let value = try runtime.positiveSetting("order.pending.timeout.seconds") {
            self.pendingTimeout = .seconds(value)
        }
        if let value = try runtime.positiveSetting("order.sweep.interval.ms") {
            self.sweepInterval = .milliseconds(value)
        }
    }
}
