internal import CRdKafka

/// Builds an `rd_kafka_conf_t` from string properties through `rd_kafka_conf_set` and its error buffer.
///
/// Ownership: the returned conf belongs to the caller until `rd_kafka_new` succeeds (which then owns and frees it);
/// on any failure after this returns the caller must call `rd_kafka_conf_destroy`. On a failure inside ``make(_:)``
/// the conf is destroyed before throwing. Non-blocking; no shared state, so safe from any thread.
enum RDKafkaConfig {
    /// Creates a conf and sets `properties` in order (a later duplicate overrides an earlier one).
    /// - Parameter properties: librdkafka property names and values.
    /// - Returns: A new `rd_kafka_conf_t *` owned by the caller.
    /// - Throws: ``KafkaBusError`` `.configuration` naming the property librdkafka refused (never its value, which
    ///   could be a secret).
    static func make(_ properties: [(name: String, value: String)]) throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaBusError.configuration("rd_kafka_conf_new failed")
        }
        do {
            for property in properties {
                try self.set(conf, name: property.name, value: property.value)
            }
        } catch {
            rd_kafka_conf_destroy(conf)
            throw error
        }
        return conf
    }

    /// Sets one property on `conf`.
    /// - Throws: ``KafkaBusError`` `.configuration` when librdkafka does not know the property or refuses the value.
    static func set(_ conf: OpaquePointer, name: String, value: String) throws {
        let capacity = 512
        let (result, reason) = withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer in
            buffer.initialize(repeating: 0)
            let result = rd_kafka_conf_set(conf, name, value, buffer.baseAddress, capacity)
            // The pointer-based String(cString:) (the [CChar] overload is deprecated); the buffer is NUL-terminated.
            return (result, String(cString: buffer.baseAddress!))
        }
        switch result {
        case RD_KAFKA_CONF_OK:
            return
        case RD_KAFKA_CONF_UNKNOWN:
            throw KafkaBusError.configuration("unknown librdkafka property '\(name)'")
        default:
            // librdkafka's reason quotes the value, so it stays out of the error for properties that may be secret.
            let detail = self.isSensitive(name) ? "" : ": \(reason)"
            throw KafkaBusError.configuration("invalid value for librdkafka property '\(name)'\(detail)")
        }
    }

    /// Whether a property's value may be a credential (its value must then never appear in errors or logs).
    static func isSensitive(_ name: String) -> Bool {
        ["password", "secret", "sasl", "ssl.key", "token", "jaas"].contains { name.contains($0) }
    }
}
