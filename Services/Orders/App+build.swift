import Hummingbird
import KafkaBus
import ServiceKit

/// Wires the order service: routes, the producer and outbox relay of `order-events`, the `payment-events` and
/// `inventory-events` consumers, the sweeper and, at startup, the store's indexes and outbox; and the staff's count of
/// the platform's dead letters (`GET /dead-letters`).
/// - Parameter consumerGroups: the original's group ids by default; tests pass unique ones.
func buildApplication(
    _ runtime: ServiceRuntime,
    consumerGroups: OrderEvents.Groups = .original
) async throws -> some ApplicationProtocol {
    let settings = try OrderSettings(runtime: runtime)
    let producer = try runtime.makeProducer()
    let relay = try runtime.makeOutboxRelay(producer: producer)
    let repository = OrderRepository(store: runtime.store, relay: relay)
    let peers = Peers(client: runtime.client, logger: runtime.logger)
    let router = runtime.makeRouter(apiDocument: PackageResources.openapi_json)
    OrderController(repository: repository, peers: peers, settings: settings).addRoutes(to: router.protected)
    DeadLetterController(kafka: try runtime.kafkaConfiguration(), logger: runtime.logger)
        .addRoutes(to: router.protected)
    let consumers = try OrderEvents(repository: repository, peers: peers)
        .makeConsumers(runtime: runtime, groups: consumerGroups)
    let byStatus = runtime.labelledGauge("storefront_orders", label: "status")
    runtime.onScrape { try await byStatus.set(repository.countsByStatus()) }
    let sweeper = PendingOrderSweeper(
        repository: repository,
        peers: peers,
        placementTimeout: settings.placementTimeout,
        pendingTimeout: settings.pendingTimeout,
        logger: runtime.logger
    )
    let sweeps = PeriodicWorker("pending-order sweep", every: settings.sweepInterval, logger: runtime.logger) {
        try await sweeper.sweep()
    }
    return runtime.makeApplication(router: router, services: [producer, relay] + consumers + [sweeps]) {
        try await repository.prepare()
    }
}
