import Foundation
import Hummingbird
import ServiceKit
import StorefrontContracts

/// The payment service: routes, the producer and outbox relay, and at startup the indexes and the outbox. Wiring only.
func buildApplication(_ runtime: ServiceRuntime) async throws -> some ApplicationProtocol {
    let settings = try PaymentSettings(runtime)
    let producer = try runtime.makeProducer()
    let relay = try runtime.makeOutboxRelay(producer: producer)
    var configured = PaymentRepository(store: runtime.store, relay: relay)
    // A claim is only taken for abandoned once it is well past what a charge can take.
    configured.staleClaimAge = 60 + Double(settings.processorLatency.components.seconds)
    let repository = configured
    let router = runtime.makeRouter(apiDocument: PackageResources.openapi_json)
    PaymentController(
        repository: repository,
        orders: OrderClient(runtime.client),
        processor: SimulatedProcessor(latency: settings.processorLatency)
    ).addRoutes(to: router)
    return runtime.makeApplication(router: router, services: [producer, relay]) {
        try await repository.prepare()
    }
}
