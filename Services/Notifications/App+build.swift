import Hummingbird
import KafkaBus
import ServiceKit
import StorefrontContracts

/// Wires the notification service: its routes, the four event consumers, the delivery loop and the store.
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
    let router = runtime.makeRouter(apiDocument: PackageResources.openapi_json)
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
