internal import CRdKafka

/// The one place where librdkafka error codes become ``KafkaBusError``s (codes, retriability, fatality).
///
/// Pure functions over `rd_kafka_resp_err_t`; thread-safe.
enum RDKafkaError {
    /// Maps `code` to a ``KafkaBusError``.
    ///
    /// Retriable (sending again is safe and may succeed): message timed out, local queue full, transport/broker
    /// availability errors and the broker errors Kafka itself marks retriable (leader changes, not enough replicas).
    /// Not retriable: shutdown/purge/destroy, permanent broker refusals (`.rejected`), fatal errors.
    ///
    /// - Parameters:
    ///   - code: The librdkafka error code.
    ///   - context: A short fixed message saying what failed (no addresses, payloads or secrets).
    ///   - isFatal: Whether librdkafka flagged the error as fatal (or `code` is `_FATAL`).
    static func map(
        _ code: rd_kafka_resp_err_t,
        context: String,
        isFatal: Bool = false,
        fileID: String = #fileID,
        line: Int = #line
    ) -> KafkaBusError {
        let fatal = isFatal || code == RD_KAFKA_RESP_ERR__FATAL
        let (kind, retriable) = fatal ? (KafkaBusError.Code.unknown, false) : self.classify(code)
        return KafkaBusError(
            code: kind,
            message: "\(context): \(self.describe(code))",
            rdKafkaCode: code.rawValue,
            rdKafkaName: self.name(code),
            isRetriable: retriable,
            isFatal: fatal,
            fileID: fileID,
            line: line
        )
    }

    /// Maps `code`, reporting it as `kind` when it classifies as one of `generic` (an error whose meaning depends on
    /// the call: a consumer's `.unknown` is a consume failure, an admin request's timeout means no broker answered).
    /// - Parameter retriable: the mapped error's retriability; `nil` keeps ``map(_:context:isFatal:fileID:line:)``'s.
    static func map(
        _ code: rd_kafka_resp_err_t,
        context: String,
        as kind: KafkaBusError.Code,
        when generic: Set<KafkaBusError.Code>,
        retriable: Bool? = nil
    ) -> KafkaBusError {
        let mapped = self.map(code, context: context)
        guard generic.contains(mapped.code) else { return mapped }
        return KafkaBusError(
            code: kind,
            message: mapped.message,
            rdKafkaCode: mapped.rdKafkaCode,
            rdKafkaName: mapped.rdKafkaName,
            isRetriable: retriable ?? mapped.isRetriable,
            isFatal: mapped.isFatal
        )
    }

    /// librdkafka's name for `code` without the `RD_KAFKA_RESP_ERR_` prefix, e.g. `_MSG_TIMED_OUT`.
    static func name(_ code: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2name(code))
    }

    /// librdkafka's fixed description of `code`, e.g. `Local: Message timed out` (contains no addresses).
    static func describe(_ code: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2str(code))
    }

    /// The error code named `name` (`NOT_LEADER_FOR_PARTITION`, `_MSG_TIMED_OUT`; an optional `RD_KAFKA_RESP_ERR_`
    /// prefix is accepted), looked up in `rd_kafka_get_err_descs`.
    static func code(named name: String) -> rd_kafka_resp_err_t? {
        let wanted = name.hasPrefix("RD_KAFKA_RESP_ERR_") ? String(name.dropFirst("RD_KAFKA_RESP_ERR_".count)) : name
        var descriptions: UnsafePointer<rd_kafka_err_desc>?
        var count = 0
        rd_kafka_get_err_descs(&descriptions, &count)
        guard let descriptions else { return nil }
        for index in 0..<count {
            let description = descriptions[index]
            // The table has gaps: entries without a name.
            guard let cName = description.name, String(cString: cName) == wanted else { continue }
            return description.code
        }
        return nil
    }

    /// Code and retriability for a non-fatal error.
    private static func classify(_ code: rd_kafka_resp_err_t) -> (KafkaBusError.Code, Bool) {
        switch code {
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
            return (.timedOut, true)
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
            return (.queueFull, true)
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT,
            RD_KAFKA_RESP_ERR__RESOLVE, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE, RD_KAFKA_RESP_ERR__WAIT_COORD,
            RD_KAFKA_RESP_ERR__NODE_UPDATE:
            return (.unavailable, true)
        case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
            return (.unavailable, true)
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, RD_KAFKA_RESP_ERR__DESTROY:
            return (.shutdown, false)
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
            RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, RD_KAFKA_RESP_ERR__INVALID_ARG, RD_KAFKA_RESP_ERR__INVALID_TYPE:
            return (.rejected, false)
        default:
            // Any other broker error reaching the application survived librdkafka's own retries: a refusal.
            return code.rawValue > 0 ? (.rejected, false) : (.unknown, false)
        }
    }
}
