/// A Storefront event: one `Codable` payload type per topic, shared by its producer and every consumer
/// (`Shared/StorefrontContracts`), so a change to an event is one edit that the compiler checks everywhere.
///
/// Decoding must be lenient where the original producers send less (they omit `eventId`, `type`, …): a consumer
/// understands both the original's payload and ours.
package protocol StorefrontEvent: Codable, Sendable {
    /// The payload's schema version, sent as the `event-version` header. Raise it when a change is not additive (a
    /// key removed or its meaning changed); adding an optional key keeps it.
    static var schemaVersion: Int { get }
    /// The message key: the id of the entity the event is about, so that its events stay in order on one partition.
    var key: String { get }
    /// The id consumers deduplicate on; `nil` only in events of older producers, which send none.
    var eventId: String? { get }
}

/// A Kafka topic and the one event type it carries. Topics are defined once, in `StorefrontContracts.Topics`.
package struct EventTopic<Event: StorefrontEvent>: Sendable {
    /// The topic's logical name (as in the original system); `KAFKA_TOPIC_PREFIX` is added by the Kafka client.
    package let name: String
    /// How many partitions it is created with (dev broker, compose).
    package let partitions: Int

    package init(_ name: String, partitions: Int) {
        self.name = name
        self.partitions = partitions
    }

    /// The topic without its event type, for lists of every topic.
    package var descriptor: TopicDescriptor { TopicDescriptor(name: self.name, partitions: self.partitions) }
}

/// A topic's name and partition count, whatever it carries.
package struct TopicDescriptor: Sendable, Hashable {
    package let name: String
    package let partitions: Int

    package init(name: String, partitions: Int) {
        self.name = name
        self.partitions = partitions
    }
}

/// The Kafka headers every Storefront event carries.
package enum EventHeaders {
    /// The payload's ``StorefrontEvent/schemaVersion``.
    package static let version = "event-version"
    /// Always `application/json`.
    package static let contentType = "content-type"

    /// The headers of an event of schema `version`, with the request id and the trace context (`traceparent`,
    /// ``TraceContext``) of the work that caused it.
    package static func make(version: Int?, requestID: String?, trace: [String: String]) -> [String: String] {
        var headers = trace
        headers[Self.contentType] = "application/json"
        if let version { headers[Self.version] = String(version) }
        if let requestID { headers[CurrentRequest.eventHeader] = requestID }
        return headers
    }
}
