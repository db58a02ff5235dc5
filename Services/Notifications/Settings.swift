import ServiceKit

/// How often and how patiently notifications are delivered.
///
/// Keys: `notification.max.attempts` (`NOTIFICATION_MAX_ATTEMPTS`, default 5), `notification.retry.base.ms`
/// (`NOTIFICATION_RETRY_BASE_MS`, default 2000: the wait after the first failure, doubled after each further one, at
/// most 10 minutes), `notification.poll.interval.ms` (`NOTIFICATION_POLL_INTERVAL_MS`, default 1000: how often the loop
/// looks for due notifications) and `notification.lease.ms` (`NOTIFICATION_LEASE_MS`, default 60000: how long a claim
/// lasts unless renewed; a running attempt renews it every third of it, so this is how long after a crash another
/// attempt, of any replica, takes the notification over).
struct DeliveryPolicy: Sendable {
    var maxAttempts = 5
    var retryBase: Int64 = 2000
    var retryCap: Int64 = 600_000
    var pollInterval: Int64 = 1000
    var lease: Int64 = 60_000

    /// The wait after the `attempts`-th failed attempt.
    func backoff(afterAttempts attempts: Int) -> Int64 {
        let exponent = min(max(attempts - 1, 0), 30)
        return min(self.retryBase.multipliedReportingOverflow(by: Int64(1) << exponent).partialValue, self.retryCap)
    }
}

/// The delivery policy from `NOTIFICATION_MAX_ATTEMPTS`, `NOTIFICATION_RETRY_BASE_MS`,
/// `NOTIFICATION_POLL_INTERVAL_MS` and `NOTIFICATION_LEASE_MS` (see ``DeliveryPolicy``).
/// - Throws: ``ConfigurationError`` when a value is not a positive integer.
func deliveryPolicy(_ runtime: ServiceRuntime) throws -> DeliveryPolicy {
    func positive(_ key: String) throws -> Int64? {
        guard let value = try runtime.positiveSetting(key) else { return nil }
        guard value <= 86_400_000 else {
            throw ConfigurationError(key: key, value: String(value), expected: "a positive integer up to 86400000")
        }
        return Int64(value)
    }
    var policy = DeliveryPolicy()
    if let value = try positive("notification.max.attempts") { policy.maxAttempts = Int(min(value, 1000)) }
    if let value = try positive("notification.retry.base.ms") { policy.retryBase = value }
    if let value = try positive("notification.poll.interval.ms") { policy.pollInterval = value }
    if let value = try positive("notification.lease.ms") { policy.lease = value }
    return policy
}
