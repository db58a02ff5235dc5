/// Where the broker stored a message sent with ``KafkaBusProducer/send(_:)``: returned only after the broker
/// acknowledged it (`acks=all`).
package struct KafkaBusDeliveryReport: Sendable, Hashable {
    /// The topic.
    package let topic: String
    /// The partition the message was written to (≥ 0).
    package let partition: Int32
    /// The message's offset in that partition (≥ 0).
    package let offset: Int64

    /// Creates a report; used by the producer when librdkafka delivers a delivery report.
    package init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}
