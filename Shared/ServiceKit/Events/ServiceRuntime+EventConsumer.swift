import Foundation
package import KafkaBus
package import Logging
import MongoStore

/// Where a consumed event came from, and the logger to report on it with (it carries the request id, topic and
/// offset).
package struct EventContext: Sendable {
    package let logger: Logger
    package let topic: String
    package let partition: Int32
    package let offset: Int64
    package let key: String?

    package init(_ message: KafkaBusMessage, logger: Logger) {
        self.logger = logger
        self.topic = message.topic
        self.partition = message.partition
        self.offset = message.offset
        self.key = message.key
    }

    /// `kafka:<topic>:<partition>:<offset>`: an id for an event of an older producer that sent no `eventId`; a
    /// redelivery of the same message repeats it.
    package var positionID: String { "kafka:\(self.topic):\(self.partition):\(self.offset)" }
}

/// Thrown by an event handler when handling the event again cannot succeed (a payload that passes decoding but makes
/// no sense): the consumer dead-letters it at once instead of retrying.
package struct UnprocessableEvent: Error, CustomStringConvertible {
    package let reason: String

    package init(_ reason: String) {
        self.reason = reason
    }

    package var description: String { self.reason }
}

/// What a service does with each event of one topic: decode the message as the topic's event type, then run the
/// service's handler on it. Consumers run it (``ServiceRuntime/makeConsumer(groupID:handler:)``); tests call
/// ``handle(_:logger:)`` with a message to go through exactly the same path.
///
/// - A message that does not decode, or whose handler throws ``UnprocessableEvent`` or a store error that is not
///   retriable, is poison: it is dead-lettered at once (`<topic>.dlq`), since retrying it cannot help.
/// - Any other error is transient and rethrown: the consumer retries the message in place with backoff, and
///   dead-letters it when `KAFKA_HANDLER_MAX_ATTEMPTS` or `KAFKA_HANDLER_RETRY_TIMEOUT_MS` runs out. It commits the
///   offset only after the handler returned normally or the dead letter was written.
///
/// Handlers must therefore be idempotent (at-least-once delivery, replays, re-driven dead letters).
package struct EventHandler<Event: StorefrontEvent>: Sendable {
    package let topic: EventTopic<Event>
    private let body: @Sendable (Event, EventContext) async throws -> Void

    /// - Parameters:
    ///   - topic: The topic whose events `body` handles.
    ///   - body: Called with each decoded event. Throw ``UnprocessableEvent`` to dead-letter it; any other error
    ///     retries it.
    package init(_ topic: EventTopic<Event>, _ body: @escaping @Sendable (Event, EventContext) async throws -> Void) {
        self.topic = topic
        self.body = body
    }

    /// Decodes `message` and runs the handler on it (see the type's documentation).
    /// - Throws: `KafkaBusPoisonMessage` for a message to dead-letter at once; any other error means "retry this
    ///   message".
    package func handle(_ message: KafkaBusMessage, logger: Logger) async throws {
        let event = try self.decode(message)
        do {
            try await self.body(event, EventContext(message, logger: logger))
        } catch let error as UnprocessableEvent {
            throw KafkaBusPoisonMessage("unprocessable \(self.topic.name) event: \(error)")
        } catch let error as MongoStoreError where !error.isRetriable && error.code != .shutdown {
            throw KafkaBusPoisonMessage("the store refused the \(self.topic.name) event: \(error)")
        }
    }

    /// The message's event.
    /// - Throws: `KafkaBusPoisonMessage` when it does not decode as one.
    package func decode(_ message: KafkaBusMessage) throws -> Event {
        do {
            return try StorefrontJSON.decoder().decode(Event.self, from: Data(message.value))
        } catch {
            throw KafkaBusPoisonMessage(
                "undecodable \(self.topic.name) event (\(message.value.count) bytes): \(error)"
            )
        }
    }
}

extension ServiceRuntime {
    /// A consumer-group member of `handler`'s topic that runs `handler` on every event, at least once, in order per
    /// partition, with the event's request id bound (``CurrentRequest``).
    /// - Throws: `KafkaBusError` `.configuration`.
    package func makeConsumer<Event: StorefrontEvent>(
        groupID: String,
        handler: EventHandler<Event>
    ) throws -> KafkaBusConsumer {
        try self.makeConsumer(groupID: groupID, topics: [handler.topic.name]) { message, logger in
            try await handler.handle(message, logger: logger)
        }
    }
}
