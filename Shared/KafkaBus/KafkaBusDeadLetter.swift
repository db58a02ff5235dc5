/// Dead letters: a message a consumer gave up on is written to `<topic>.dlq` (same key, same value, its headers plus
/// the ones below), and the consumer commits past it. `storefront-admin dlq` lists, shows and re-drives them.
package enum KafkaBusDeadLetter {
    /// The suffix of a topic's dead-letter topic: `payment-events` → `payment-events.dlq`.
    package static let topicSuffix = ".dlq"

    /// The dead-letter topic of `topic` (a logical name: ``KafkaBusConfiguration/topicPrefix`` is added by clients).
    package static func topic(for topic: String) -> String { topic + Self.topicSuffix }

    /// The topic `deadLetterTopic` collects for, or `nil` when it is not a dead-letter topic.
    package static func originalTopic(of deadLetterTopic: String) -> String? {
        deadLetterTopic.hasSuffix(Self.topicSuffix) ? String(deadLetterTopic.dropLast(Self.topicSuffix.count)) : nil
    }

    /// The headers a dead letter carries besides its original ones. All values are UTF-8 text.
    package enum Header {
        /// The topic the message was consumed from (logical name).
        package static let topic = "dlq-original-topic"
        /// Its partition there, in decimal.
        package static let partition = "dlq-original-partition"
        /// Its offset there, in decimal.
        package static let offset = "dlq-original-offset"
        /// Its key there; absent when it had none.
        package static let key = "dlq-original-key"
        /// The consumer group that gave up on it.
        package static let group = "dlq-consumer-group"
        /// Why: the last error, as text.
        package static let error = "dlq-error"
        /// How many times the handler ran on it (1 for a message that could not be decoded).
        package static let attempts = "dlq-attempts"
        /// When the consumer gave up, in milliseconds since 1970 (decimal).
        package static let failedAt = "dlq-failed-at-ms"
    }
}
