import Hummingbird
import KafkaBus
import ServiceKit
import StorefrontContracts

/// Wires the cart service: its routes, the user-event and order-event consumers and the store's collections.
/// - Parameters:
///   - runtime: configuration, store, peer client and Kafka factories (reads `PRODUCT_URL`, `INVENTORY_URL`,
///     `HTTP_CLIENT_TIMEOUT_MS` and the `KAFKA_*` keys through it).
///   - consumerGroups: the user-event consumer group ids; the original's by default. Tests pass unique ones, so that
///     several cart applications in one test process do not share (and split) one group's partitions.
///   - orderGroup: the `order-events` consumer group id.
/// - Throws: `KafkaBusError` `.configuration` when the consumers cannot be created.
func buildApplication(
    _ runtime: ServiceRuntime,
    consumerGroups: UserEventsConsumer.Groups = .original,
    orderGroup: String = OrderEventsConsumer.originalGroup
) async throws -> some ApplicationProtocol {
    let router = runtime.makeRouter(apiDocument: PackageResources.openapi_json)
    let repository = CartRepository(store: runtime.store)
    CartController(
        repository: repository,
        products: ProductClient(runtime.client),
        inventory: InventoryClient(runtime.client)
    ).addRoutes(to: router.protected)
    let consumers = try UserEventsConsumer(repository: repository).makeConsumers(
        runtime: runtime,
        groups: consumerGroups
    )
    let orders = try OrderEventsConsumer(repository: repository).makeConsumer(runtime: runtime, groupID: orderGroup)
    return runtime.makeApplication(router: router, services: consumers + [orders]) {
        try await repository.prepare()
    }
}
