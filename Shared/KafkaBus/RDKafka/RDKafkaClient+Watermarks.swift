import CRdKafka

extension RDKafkaClient {
    /// The high watermark (the offset the next message will get) of `topic`/`partition` as last seen in a fetch
    /// response, or `nil` when none was seen yet (`rd_kafka_get_watermark_offsets`: cached, no request).
    ///
    /// Non-blocking (a local lock only); for a consumer's lag.
    func cachedHighWatermark(topic: String, partition: Int32) -> Int64? {
        var low: Int64 = -1
        var high: Int64 = -1
        let error = self.withHandle { rd_kafka_get_watermark_offsets($0, topic, partition, &low, &high) }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return high
    }
}
