/// One Kafka record, as produced by ``KafkaBusProducer/send(_:)`` or handed to a ``KafkaBusConsumer`` handler.
///
/// A plain value type (`Sendable`); nothing in it points into librdkafka memory: consumed messages are copied out of
/// the `rd_kafka_message_t` before it is destroyed.
package struct KafkaBusMessage: Sendable, Hashable {
    /// The topic.
    package var topic: String
    /// The record key (UTF-8). Messages with the same key go to the same partition and keep their order.
    package var key: String?
    /// The payload bytes.
    package var value: [UInt8]
    /// Record headers; names and values are UTF-8 strings. A header sent twice keeps its last value on consumption.
    package var headers: [String: String]
    /// The partition of a consumed message; `-1` for a message to produce (the partitioner chooses by key).
    package var partition: Int32
    /// The offset of a consumed message; `-1` for a message to produce.
    package var offset: Int64
    /// The record's timestamp in milliseconds since 1970 (the producer's create time, or the broker's append time on
    /// topics configured so), for a consumed message; `nil` for a message to produce (librdkafka stamps it) and when
    /// the record has none.
    package var timestamp: Int64?

    /// Creates a message to produce (`partition` and `offset` are `-1`).
    /// - Parameters:
    ///   - topic: The topic.
    ///   - key: The record key, e.g. the entity id, so that all events of one entity stay in order.
    ///   - value: The payload bytes.
    ///   - headers: Record headers.
    package init(topic: String, key: String? = nil, value: [UInt8], headers: [String: String] = [:]) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = -1
        self.offset = -1
        self.timestamp = nil
    }
}
