import Hummingbird
import KafkaBus
import ServiceKit
import StorefrontContracts

/// Wires the product service: its routes, the producer and outbox relay of `product-events`, the catalog view and
/// the reader that feeds it (`product-events`, `stock-levels`), and at startup the collection's indexes and outbox.
/// - Parameter runtime: configuration, store and peer client (reads `INVENTORY_URL`, `HTTP_CLIENT_TIMEOUT_MS`,
///   `CATALOG_MAX_STALENESS_MS` and `CATALOG_MAX_ENTRIES` through it).
func buildApplication(_ runtime: ServiceRuntime) async throws -> some ApplicationProtocol {
    try await buildApplication(runtime, catalog: nil)
}

/// As ``buildApplication(_:)``; `catalog` receives the view and its reader (tests look at both).
func buildApplication(
    _ runtime: ServiceRuntime,
    catalog exposed: (@Sendable (CatalogView, KafkaBusReader) -> Void)?
) async throws -> some ApplicationProtocol {
    let settings = try ProductSettings(runtime: runtime)
    let router = runtime.makeRouter(apiDocument: PackageResources.openapi_json)
    let producer = try runtime.makeProducer()
    let relay = try runtime.makeOutboxRelay(producer: producer)
    let repository = ProductRepository(store: runtime.store, relay: relay)
    let inventory = InventoryClient(runtime.client)
    let view = CatalogView(maxStaleness: settings.maxStaleness, capacity: settings.capacity)
    let catalog = Catalog(view: view, repository: repository, inventory: inventory, logger: runtime.logger)
    let reader = try CatalogFeed(view: view, logger: runtime.logger).makeReader(
        configuration: runtime.kafkaConfiguration()
    )
    exposed?(view, reader)
    ProductController(repository: repository, inventory: inventory, catalog: catalog, logger: runtime.logger)
        .addRoutes(public: router.public, protected: router.protected)
    return runtime.makeApplication(router: router, services: [producer, relay, reader]) {
        try await repository.prepare()
    }
}
