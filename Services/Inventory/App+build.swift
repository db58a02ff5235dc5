import Hummingbird
import KafkaBus
import ServiceKit

/// The inventory service's consumer group ids: the platform's by default; tests pass unique ones.
struct InventoryConsumerGroups: Sendable {
    var payments = PaymentEventsConsumer.originalGroup
    var orders = OrderEventsConsumer.originalGroup
}

/// Wires the inventory service: routes, the `payment-events` and `order-events` consumers, the outbox relay
/// (`inventory-events`), the stock publisher (`stock-levels`), the expiry sweeper and the store's indexes.
/// - Parameter consumerGroups: the original's group ids by default; tests pass unique ones.
func buildApplication(
    _ runtime: ServiceRuntime,
    consumerGroups: InventoryConsumerGroups = .init()
) async throws -> some ApplicationProtocol {
    let settings = try InventorySettings(runtime: runtime)
    let producer = try runtime.makeProducer()
    let stockPublisher = StockPublisher(
        store: runtime.store,
        producer: producer,
        pollInterval: settings.stockPublishPollInterval,
        logger: runtime.logger
    )
    let ledger = StockLedger(store: runtime.store, publisher: stockPublisher)
    let reservations = Reservations(store: runtime.store, ledger: ledger, ttl: settings.ttl)
    let router = runtime.makeRouter(apiDocument: PackageResources.openapi_json)
    InventoryController(ledger: ledger).addRoutes(to: router.protected)
    ReservationController(reservations: reservations).addRoutes(to: router.protected)
    let relay = try runtime.makeOutboxRelay(producer: producer)
    let payments = try PaymentEventsConsumer(reservations: reservations, notifyOutbox: { relay.notify() })
        .makeConsumer(runtime: runtime, groupID: consumerGroups.payments)
    let orders = try OrderEventsConsumer(reservations: reservations)
        .makeConsumer(runtime: runtime, groupID: consumerGroups.orders)
    let byState = runtime.labelledGauge("storefront_reservations", label: "state")
    runtime.onScrape { try await byState.set(reservations.countsByStatus()) }
    let sweeper = PeriodicWorker("reservation sweep", every: settings.sweepInterval, logger: runtime.logger) {
        try await reservations.sweep(logger: runtime.logger)
    }
    return runtime.makeApplication(
        router: router,
        services: [producer, relay, stockPublisher, payments, orders, sweeper]
    ) {
        try await ledger.prepare()
        try await reservations.prepare()
        try await Outbox.prepare(runtime.store)
    }
}
