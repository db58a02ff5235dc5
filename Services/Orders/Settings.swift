import ServiceKit

/// The order service's own settings.
struct OrderSettings: Sendable {
    /// `order.pending.timeout.seconds` (`ORDER_PENDING_TIMEOUT_SECONDS`), default 300: how long an order may stay
    /// `pending` before the sweeper settles it with the payment service.
    var pendingTimeout: Duration = .seconds(300)
    /// `order.sweep.interval.ms` (`ORDER_SWEEP_INTERVAL_MS`), default 5000.
    var sweepInterval: Duration = .seconds(5)
    /// `order.payment.attempts` (`ORDER_PAYMENT_ATTEMPTS`), default 3: tries of `POST /payments` on 503/timeout.
    var paymentAttempts = 3
    /// How long an `Idempotency-Key` is remembered: 24 h, in milliseconds.
    var idempotencyTTL: Int64 = 24 * 3600 * 1000
    /// After how long a key still `processing` is considered abandoned (its request died): longer than any request
    /// can take (every payment attempt at the full HTTP timeout, plus the other calls), at least 2 minutes.
    var idempotencyStaleMillis: Int64 = 120_000

    init(runtime: ServiceRuntime) throws {
        if let value = try runtime.positiveSetting("order.pending.timeout.seconds") {
            self.pendingTimeout = .seconds(value)
        }
        if let value = try runtime.positiveSetting("order.sweep.interval.ms") {
            self.sweepInterval = .milliseconds(value)
        }
        if let value = try runtime.positiveSetting("order.payment.attempts") { self.paymentAttempts = value }
        let timeout = runtime.configuration.httpClientTimeout.components.seconds * 1000
        self.idempotencyStaleMillis = max(120_000, Int64(self.paymentAttempts + 6) * timeout * 2)
    }
}
