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

        /// Every header above: what a redrive removes before re-publishing a letter.
        package static let all: Set<String> = [topic, partition, offset, key, group, error, attempts, failedAt]
    }

    /// The headers of a redrive marker: a record `storefront-admin dlq redrive` appends to the dead-letter topic itself
    /// (no key, empty value) to claim a letter before re-publishing it and to confirm it afterwards, so that a letter
    /// is re-published once however often, and from however many runs, it is re-driven.
    package enum Redrive {
        /// `claim` or `done`; a record carrying it is a marker, not a dead letter.
        package static let marker = "dlq-redrive"
        /// The offset of the dead letter it is about, in decimal.
        package static let offset = "dlq-redrive-offset"
        /// The id of the run that wrote it (a UUID).
        package static let run = "dlq-redrive-run"
        /// Where the re-published message went, `topic/partition/offset` (`done` only).
        package static let published = "dlq-redrive-published"

        /// Every header above.
        package static let all: Set<String> = [marker, offset, run, published]
    }
}
