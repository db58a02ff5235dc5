import Hummingbird
import KafkaBus
import ServiceKit

/// Wires the order service: routes, the `payment-events` and `inventory-events` consumers, the pending-order sweeper
/// and the store's indexes.
/// - Parameter consumerGroups: the original's group ids by default; tests pass unique ones.
func buildApplication(
    _ runtime: ServiceRuntime,
    consumerGroups: OrderEvents.Groups = .original
) async throws -> some ApplicationProtocol {
    let settings = try OrderSettings(runtime: runtime)
    let repository = OrderRepository(store: runtime.store)
    let peers = Peers(client: runtime.client, logger: runtime.logger)
    let router = runtime.makeRouter()
    OrderController(repository: repository, peers: peers, settings: settings).addRoutes(to: router.protected)
    let consumers = try OrderEvents(repository: repository, peers: peers)
        .makeConsumers(runtime: runtime, groups: consumerGroups)
    let sweeper = PendingOrderSweeper(
        repository: repository,
        peers: peers,
        timeout: settings.pendingTimeout,
        logger: runtime.logger
    )
    let sweeps = PeriodicWorker("pending-order sweep", every: settings.sweepInterval, logger: runtime.logger) {
        try await sweeper.sweep()
    }
    return runtime.makeApplication(router: router, services: consumers + [sweeps]) {
        try await repository.prepare()
    }
}
