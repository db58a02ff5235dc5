import Hummingbird
import KafkaBus
import ServiceKit
import StorefrontContracts

/// Wires the notification service: its routes, the three event consumers, the delivery loop and the store.
/// - Parameters:
///   - runtime: configuration, store, peer client and Kafka factories (reads `USER_URL`, the `NOTIFICATION_*`,
///     `SMTP_*` and `KAFKA_*` keys through it).
///   - consumerGroups: the original's group ids by default; tests pass unique ones.
///   - sender: how messages go out; by default from the configuration (``makeSender(_:)``).
/// - Throws: ``ConfigurationError`` for a malformed `NOTIFICATION_*` or `SMTP_*` value (see ``makeSender(_:)``);
///   `KafkaBusError` `.configuration` when the consumers cannot be created.
func buildApplication(
    _ runtime: ServiceRuntime,
    consumerGroups: NotificationEventsConsumer.Groups = .original,
    sender: (any NotificationSender)? = nil
) async throws -> some ApplicationProtocol {
    let router = runtime.makeRouter()
    let repository = NotificationRepository(store: runtime.store)
    NotificationController(repository: repository).addRoutes(to: router.protected)
    let delivery = NotificationDelivery(
        repository: repository,
        sender: try sender ?? makeSender(runtime),
        users: UserClient(runtime.client),
        policy: try deliveryPolicy(runtime),
        logger: runtime.logger
    )
    let consumers = try NotificationEventsConsumer(repository: repository).makeConsumers(
        runtime: runtime,
        groups: consumerGroups
    )
    let deliveries = PeriodicWorker(
        "notification delivery",
        every: .milliseconds(delivery.policy.pollInterval),
        logger: runtime.logger
    ) { await delivery.deliverDue() }
    return runtime.makeApplication(router: router, services: consumers + [deliveries]) {
        try await repository.prepare()
    }
}

/// The sender the configuration asks for: ``SMTPSender`` when `SMTP_HOST` is set and not empty, ``LogSender``
/// otherwise.
///
/// The SMTP keys (`SMTP_HOST`, `SMTP_PORT`, `SMTP_FROM`, `SMTP_USERNAME`, `SMTP_PASSWORD`, `SMTP_TLS`,
/// `SMTP_CA_FILE`, `SMTP_TIMEOUT_MS`) are described on ``SMTPConfiguration``; the password is read as a secret.
/// - Throws: ``ConfigurationError`` when `SMTP_HOST` is set and another SMTP key is missing (`SMTP_FROM`), malformed
///   or unusable (an unreadable `SMTP_CA_FILE`): the service refuses to start rather than fail every delivery.
func makeSender(_ runtime: ServiceRuntime) throws -> any NotificationSender {
    guard let configuration = try SMTPConfiguration(setting: { runtime.setting($0, isSecret: $1) }) else {
        return LogSender(logger: runtime.logger)
    }
    return try SMTPSender(configuration: configuration, logger: runtime.logger)
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
