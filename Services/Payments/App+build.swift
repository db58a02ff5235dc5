import Foundation
import Hummingbird
import ServiceKit
import StorefrontContracts

/// The payment service's own settings.
///
/// Keys (environment variable in brackets):
/// - `payment.latency.ms` (`PAYMENT_LATENCY_MS`): simulated processor latency per charge, in ms, 0...60000;
///   default 0 (benchmarks set it to imitate a real gateway).
struct PaymentServiceSettings: Sendable {
    var processorLatency: Duration

    /// - Throws: ``ConfigurationError`` for a latency that is not an integer from 0 to 60000.
    init(_ runtime: ServiceRuntime) throws {
        self.processorLatency = .zero
        if let text = runtime.setting("payment.latency.ms") {
            guard let value = Int(text), (0...60_000).contains(value) else {
                throw ConfigurationError(key: "payment.latency.ms", value: text, expected: "an integer from 0 to 60000")
            }
            self.processorLatency = .milliseconds(value)
        }
    }
}

/// The payment service: routes, the producer and outbox relay, and at startup the indexes and the outbox. Wiring only.
func buildApplication(_ runtime: ServiceRuntime) async throws -> some ApplicationProtocol {
    let settings = try PaymentServiceSettings(runtime)
    let producer = try runtime.makeProducer()
    let relay = try runtime.makeOutboxRelay(producer: producer)
    var configured = PaymentRepository(store: runtime.store, relay: relay)
    // A claim is only taken for abandoned once it is well past what a charge can take.
    configured.staleClaimAge = 60 + Double(settings.processorLatency.components.seconds)
    let repository = configured
    let router = runtime.makeRouter()
    PaymentController(
        repository: repository,
        orders: OrderClient(runtime.client),
        processor: SimulatedProcessor(latency: settings.processorLatency)
    ).addRoutes(to: router)
    return runtime.makeApplication(router: router, services: [producer, relay]) {
        try await repository.prepare()
    }
}
