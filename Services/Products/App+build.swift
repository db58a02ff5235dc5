import Hummingbird
import ServiceKit
import StorefrontContracts

/// Wires the product service: its routes and, at startup, the collection's indexes.
/// - Parameter runtime: configuration, store and peer client (reads `INVENTORY_URL` and `HTTP_CLIENT_TIMEOUT_MS`
///   through it). The product service neither produces nor consumes Kafka events.
func buildApplication(_ runtime: ServiceRuntime) async throws -> some ApplicationProtocol {
    let router = runtime.makeRouter(apiDocument: PackageResources.openapi_json)
    let repository = ProductRepository(store: runtime.store)
    let inventory = InventoryClient(runtime.client)
    ProductController(repository: repository, inventory: inventory, logger: runtime.logger)
        .addRoutes(public: router.public, protected: router.protected)
    return runtime.makeApplication(router: router) {
        try await repository.prepare()
    }
}
