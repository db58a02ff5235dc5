import Foundation
package import KafkaBus

/// Publishes events straight to Kafka (no outbox), keyed by entity id, with the current request id and the schema
/// version in the headers. `publish` returns once the broker acknowledged the event.
///
/// Services publish through the ``Outbox`` (the event is written in the transaction of the change it announces); this
/// direct path is for tools and for tests that play a producer.
package struct EventPublisher: Sendable {
    private let producer: KafkaBusProducer

    package init(producer: KafkaBusProducer) {
        self.producer = producer
    }

    /// Publishes `event` to `topic`, keyed by ``StorefrontEvent/key``.
    /// - Throws: `KafkaBusError` (check `isRetriable`), or an encoding error.
    @discardableResult
    package func publish<Event: StorefrontEvent>(
        _ event: Event,
        to topic: EventTopic<Event>
    ) async throws -> KafkaBusDeliveryReport {
        try await self.send(topic: topic.name, key: event.key, payload: event, version: Event.schemaVersion)
    }

    /// Publishes any JSON payload, as a foreign producer (the original system, an older version) would: for tests of
    /// how consumers read payloads that are not ours.
    /// - Throws: `KafkaBusError` (check `isRetriable`), or an encoding error.
    @discardableResult
    package func publishForeign(
        _ payload: some Encodable,
        to topic: EventTopic<some StorefrontEvent>,
        key: String
    ) async throws -> KafkaBusDeliveryReport {
        try await self.send(topic: topic.name, key: key, payload: payload, version: nil)
    }

    private func send(
        topic: String,
        key: String,
        payload: some Encodable,
        version: Int?
    ) async throws -> KafkaBusDeliveryReport {
        let value = try StorefrontJSON.encoder().encode(payload)
        return try await self.producer.send(
            KafkaBusMessage(
                topic: topic,
                key: key,
                value: Array(value),
                headers: EventHeaders.make(
                    version: version,
                    requestID: CurrentRequest.id,
                    trace: TraceContext.headers()
                )
            )
        )
    }
}
