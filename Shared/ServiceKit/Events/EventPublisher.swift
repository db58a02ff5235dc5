import Foundation
package import KafkaBus

/// Publishes a service's events as JSON, keyed by entity id (so one entity's events stay in order), with the current
/// request id in the `x-request-id` header. `publish` returns once the broker acknowledged the event.
package struct EventPublisher: Sendable {
    private let producer: KafkaBusProducer

    package init(producer: KafkaBusProducer) {
        self.producer = producer
    }

    /// - Throws: `KafkaBusError` (check `isRetriable`), or an encoding error.
    @discardableResult
    package func publish(topic: String, key: String, event: some Encodable) async throws -> KafkaBusDeliveryReport {
        let value = try StorefrontJSON.encoder().encode(event)
        var headers = ["content-type": "application/json"]
        if let id = CurrentRequest.id { headers[CurrentRequest.eventHeader] = id }
        return try await self.producer.send(
            KafkaBusMessage(topic: topic, key: key, value: Array(value), headers: headers)
        )
    }
}
