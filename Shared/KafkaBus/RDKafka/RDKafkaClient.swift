internal import CRdKafka
import Logging

/// Owns one `rd_kafka_t` (producer or consumer) and the queue KafkaBus polls for its events, and turns every C result
/// into Swift values and ``KafkaBusError``s. No pointer escapes: callers get Swift values only.
///
/// Queues:
/// - producer: the main queue, with `rd_kafka_conf_set_events(DR | ERROR | LOG)` and `log.queue=true` forwarded to it,
///   so delivery reports, errors and librdkafka's log lines are all served by
///   ``pollEvents(timeout:maxEvents:onReport:)`` on a KafkaBus thread (never librdkafka's own threads, never stderr);
/// - consumer: the main queue is redirected to the consumer queue (`rd_kafka_poll_set_consumer`, served by
///   ``consumerPoll(timeout:)``), and log lines go to a dedicated log queue drained by ``drainLogs()``.
///
/// Blocking: methods marked "Blocking" wait on the network or a timeout and must only be called inside
/// `BlockingExecutor.run` (a dedicated thread), never directly from async code. The others are non-blocking; the two
/// polls are non-blocking with a zero timeout, which is how KafkaBus calls them from async code, sleeping on
/// ``wakeup`` (signalled by librdkafka through `rd_kafka_queue_cb_event_enable`) while the queues are empty.
///
/// Thread-safety: `@unchecked Sendable` because the stored pointers are immutable and librdkafka documents
/// `rd_kafka_t` and `rd_kafka_queue_t` as thread-safe. Exception: ``consumerPoll(timeout:)`` must not be called
/// concurrently with itself, which `KafkaBusConsumer`'s single sequential loop guarantees.
///
/// Lifetime: `deinit` only frees (`rd_kafka_queue_destroy`, `rd_kafka_destroy`); flushing and closing are explicit.
final class RDKafkaClient: @unchecked Sendable {
    /// The kind of `rd_kafka_t` to create.
    enum Kind: Sendable {
        case producer
        case consumer
    }

    /// What one ``consumerPoll(timeout:)`` returned.
    enum ConsumerPollResult: Sendable {
        /// A message, copied into Swift values.
        case message(KafkaBusMessage)
        /// An error event from librdkafka (most are informational: the consumer retries by itself).
        case error(KafkaBusError)
        /// Nothing arrived within the timeout.
        case idle
    }

    /// Offset sentinel: `RD_KAFKA_PARTITION_UA` (a cast macro Swift does not import).
    static let unassignedPartition: Int32 = -1

    private let handle: OpaquePointer
    /// Producer: the main queue (reports, errors, logs). Consumer: the dedicated log queue.
    private let eventQueue: OpaquePointer
    /// Consumer: the consumer queue (messages, errors, rebalances), which ``consumerPoll(timeout:)`` serves.
    private let consumerQueue: OpaquePointer?
    private let kind: Kind
    private let logger: Logger
    /// Signalled by librdkafka when one of the queues above receives something: the loops that serve them poll
    /// without waiting and sleep on it in between.
    let wakeup = QueueWakeup()

    /// Creates the client. Non-blocking (librdkafka connects in its own threads).
    /// - Parameters:
    ///   - kind: Producer or consumer.
    ///   - properties: librdkafka properties, applied in order.
    ///   - logger: Receives librdkafka's log lines and errors.
    /// - Throws: ``KafkaBusError`` `.configuration` when a property is refused or `rd_kafka_new` fails.
    init(kind: Kind, properties: [(name: String, value: String)], logger: Logger) throws {
        let conf = try RDKafkaConfig.make(properties + [("log.queue", "true")])
        if kind == .producer {
            rd_kafka_conf_set_events(conf, Int32(RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG))
        }
        let capacity = 512
        let created: OpaquePointer? = withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer in
            buffer.initialize(repeating: 0)
            let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
            let handle = rd_kafka_new(type, conf, buffer.baseAddress, capacity)
            if handle == nil {
                logger.error(
                    "rd_kafka_new failed",
                    metadata: ["kafka.error": "\(String(cString: buffer.baseAddress!))"]
                )
            }
            return handle
        }
        // Ownership: rd_kafka_new owns (and eventually frees) the conf only when it succeeds.
        guard let handle = created else {
            rd_kafka_conf_destroy(conf)
            throw KafkaBusError.configuration("rd_kafka_new failed (see the log for librdkafka's reason)")
        }

        let queue: OpaquePointer
        var consumerQueue: OpaquePointer?
        switch kind {
        case .producer:
            // A new reference to the main queue, released in deinit.
            queue = rd_kafka_queue_get_main(handle)
        case .consumer:
            rd_kafka_poll_set_consumer(handle)
            queue = rd_kafka_queue_new(handle)
            consumerQueue = rd_kafka_queue_get_consumer(handle)
        }
        // With log.queue=true, log lines wait in an internal queue until forwarded somewhere: forward them to ours.
        let error = rd_kafka_set_log_queue(handle, queue)
        if error != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_queue_destroy(queue)
            rd_kafka_destroy(handle)
            throw RDKafkaError.map(error, context: "cannot forward librdkafka logs")
        }
        self.handle = handle
        self.eventQueue = queue
        self.consumerQueue = consumerQueue
        self.kind = kind
        self.logger = logger
        // The wakeup lives as long as this client; the callbacks are removed in deinit before the queues go.
        let opaque = Unmanaged.passUnretained(self.wakeup).toOpaque()
        for watched in [queue, consumerQueue].compactMap({ $0 }) {
            rd_kafka_queue_cb_event_enable(watched, Self.queueBecameNonEmpty, opaque)
        }
    }

    /// librdkafka's queue callback, called on its own threads with the queue's lock held: only signals.
    private static let queueBecameNonEmpty: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = {
        _,
        opaque in
        guard let opaque else { return }
        Unmanaged<QueueWakeup>.fromOpaque(opaque).takeUnretainedValue().signal()
    }

    deinit {
        for watched in [self.eventQueue, self.consumerQueue].compactMap({ $0 }) {
            rd_kafka_queue_cb_event_enable(watched, nil, nil)
        }
        if let consumerQueue = self.consumerQueue {
            rd_kafka_queue_destroy(consumerQueue)
        }
        rd_kafka_queue_destroy(self.eventQueue)
        // For a consumer this is only quick after rd_kafka_consumer_close (KafkaBusConsumer.run always closes).
        rd_kafka_destroy(self.handle)
    }

    /// Gives `body` the raw `rd_kafka_t *`. **Do not escape the pointer from the closure**, and do not destroy it.
    func withHandle<T>(_ body: (OpaquePointer) throws -> T) rethrows -> T {
        try body(self.handle)
    }

    // MARK: Producer

    /// Hands one message to librdkafka (copied: `RD_KAFKA_MSG_F_COPY`); its delivery report will carry `id`.
    ///
    /// Non-blocking: when librdkafka's local queue is full this throws `.queueFull` instead of waiting.
    /// - Throws: ``KafkaBusError`` (queue full, unknown topic, message too large, fatal error).
    func produce(_ message: KafkaBusMessage, id: UInt) throws {
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            let list = rd_kafka_headers_new(message.headers.count)!
            for (name, value) in message.headers {
                // rd_kafka_header_add copies name and value.
                _ = Array(value.utf8).withUnsafeBytes { bytes in
                    rd_kafka_header_add(list, name, -1, bytes.baseAddress, bytes.count)
                }
            }
            headers = list
        }
        let key = message.key.map { Array($0.utf8) }
        let error = message.value.withUnsafeBytes { value in
            Self.withOptionalBytes(key) { keyPointer, keyLength in
                storefront_rd_kafka_produce(
                    self.handle,
                    message.topic,
                    Self.unassignedPartition,
                    RD_KAFKA_MSG_F_COPY,
                    keyPointer,
                    keyLength,
                    value.baseAddress,
                    value.count,
                    headers,
                    UnsafeMutableRawPointer(bitPattern: id)
                )
            }
        }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            // Ownership: librdkafka took the header list only on success.
            if let headers { rd_kafka_headers_destroy(headers) }
            throw RDKafkaError.map(error, context: "message not accepted for sending")
        }
    }

    /// Serves producer events: waits up to `timeout` milliseconds for the first one, then takes up to `maxEvents - 1`
    /// more without waiting. Delivery reports go to `onReport` (message id and outcome); log lines and errors go to
    /// the logger. Each event is destroyed after use.
    ///
    /// Blocking up to `timeout`: call through `BlockingExecutor`, or with a zero timeout from anywhere.
    /// - Returns: The number of events served.
    @discardableResult
    func pollEvents(
        timeout: Int32,
        maxEvents: Int,
        onReport: (UInt, Result<KafkaBusDeliveryReport, KafkaBusError>) -> Void
    ) -> Int {
        var served = 0
        var wait = timeout
        while served < maxEvents, let event = rd_kafka_queue_poll(self.eventQueue, wait) {
            defer { rd_kafka_event_destroy(event) }
            served += 1
            wait = 0
            switch rd_kafka_event_type(event) {
            case Int32(RD_KAFKA_EVENT_DR):
                while let message = rd_kafka_event_message_next(event) {
                    self.deliveryReport(message, onReport: onReport)
                }
            case Int32(RD_KAFKA_EVENT_LOG):
                self.forwardLog(event)
            case Int32(RD_KAFKA_EVENT_ERROR):
                self.logErrorEvent(event)
            default:
                break
            }
        }
        return served
    }

    /// Messages not yet acknowledged plus events not yet served (`rd_kafka_outq_len`). Non-blocking.
    var outstandingCount: Int {
        Int(rd_kafka_outq_len(self.handle))
    }

    /// Purges queued and in-flight messages (their delivery reports then fail with `_PURGE_QUEUE`/`_PURGE_INFLIGHT`).
    ///
    /// Blocking (waits for librdkafka's broker threads to purge): call through `BlockingExecutor`.
    func purge() {
        _ = rd_kafka_purge(self.handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
    }

    private func deliveryReport(
        _ message: UnsafePointer<rd_kafka_message_t>,
        onReport: (UInt, Result<KafkaBusDeliveryReport, KafkaBusError>) -> Void
    ) {
        let id = UInt(bitPattern: message.pointee._private)
        guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let context: String
            switch rd_kafka_message_status(message) {
            case RD_KAFKA_MSG_STATUS_NOT_PERSISTED: context = "message not delivered (not persisted)"
            case RD_KAFKA_MSG_STATUS_PERSISTED: context = "message delivery failed (but persisted)"
            default: context = "message not delivered (possibly persisted)"
            }
            var isFatal = false
            var code = message.pointee.err
            if code == RD_KAFKA_RESP_ERR__FATAL {
                isFatal = true
                code = self.fatalError() ?? code
            }
            onReport(id, .failure(RDKafkaError.map(code, context: context, isFatal: isFatal)))
            return
        }
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        let report = KafkaBusDeliveryReport(
            topic: topic,
            partition: message.pointee.partition,
            offset: message.pointee.offset
        )
        onReport(id, .success(report))
    }

    /// The underlying code of a fatal error, if one was raised (`rd_kafka_fatal_error`). Non-blocking.
    private func fatalError() -> rd_kafka_resp_err_t? {
        let code = rd_kafka_fatal_error(self.handle, nil, 0)
        return code == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : code
    }

    // MARK: Consumer

    /// Subscribes to `topics` (the group join happens in the background, driven by ``consumerPoll(timeout:)``).
    ///
    /// Non-blocking, but call it through `BlockingExecutor` with the other consumer calls to keep one thread of
    /// control.
    /// - Throws: ``KafkaBusError`` `.consume` when librdkafka refuses the subscription.
    func subscribe(topics: [String]) throws {
        let list = rd_kafka_topic_partition_list_new(Int32(clamping: topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, Self.unassignedPartition)
        }
        let error = rd_kafka_subscribe(self.handle, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw Self.consumeError(error, context: "subscribe failed")
        }
    }

    /// Waits up to `timeout` milliseconds for the next message or consumer error, copies it into Swift values and
    /// destroys the `rd_kafka_message_t`; then drains pending log lines.
    ///
    /// Blocking up to `timeout`: call through `BlockingExecutor`, or with a zero timeout from anywhere; never
    /// concurrently with itself.
    func consumerPoll(timeout: Int32) -> ConsumerPollResult {
        defer { self.drainLogs() }
        guard let message = rd_kafka_consumer_poll(self.handle, timeout) else {
            return .idle
        }
        defer { rd_kafka_message_destroy(message) }
        let error = message.pointee.err
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if error == RD_KAFKA_RESP_ERR__FATAL {
                return .error(RDKafkaError.map(self.fatalError() ?? error, context: "consumer failed", isFatal: true))
            }
            return .error(Self.consumeError(error, context: "consumer error"))
        }
        return .message(Self.copy(message))
    }

    /// Marks `offset` (the offset of the next message to consume, i.e. handled offset + 1) of `topic`/`partition` as
    /// ready to commit (`rd_kafka_offsets_store`; auto-commit and ``commitStoredOffsets(timeout:)`` send it).
    ///
    /// Non-blocking (a local lock only).
    /// - Throws: ``KafkaBusError`` `.consume`, e.g. `_STATE` when the partition is no longer assigned.
    func storeOffset(topic: String, partition: Int32, offset: Int64) throws {
        let list = rd_kafka_topic_partition_list_new(1)!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let entry = rd_kafka_topic_partition_list_add(list, topic, partition)!
        entry.pointee.offset = offset
        var error = rd_kafka_offsets_store(self.handle, list)
        if error == RD_KAFKA_RESP_ERR_NO_ERROR {
            error = entry.pointee.err
        }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw Self.consumeError(error, context: "offset not stored")
        }
    }

    /// Commits the stored offsets of the current assignment and waits up to `timeout` milliseconds for the result
    /// (through a temporary queue, so the wait is bounded even when the coordinator is unreachable).
    ///
    /// Blocking (up to `timeout`): call through `BlockingExecutor`.
    /// - Throws: ``KafkaBusError`` `.consume` (or `.unavailable` on timeout); nothing to commit is not an error.
    func commitStoredOffsets(timeout: Int32) throws {
        let queue = rd_kafka_queue_new(self.handle)!
        defer { rd_kafka_queue_destroy(queue) }
        let error = rd_kafka_commit_queue(self.handle, nil, queue, nil, nil)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if error == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
            throw Self.consumeError(error, context: "commit failed")
        }
        guard let event = rd_kafka_queue_poll(queue, timeout) else {
            throw KafkaBusError.unavailable("commit not confirmed in time")
        }
        defer { rd_kafka_event_destroy(event) }
        let result = rd_kafka_event_error(event)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR || result == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw Self.consumeError(result, context: "commit failed")
        }
    }

    /// Leaves the group (`rd_kafka_consumer_close`): revokes the assignment, commits stored offsets (auto-commit is on)
    /// and sends LeaveGroup so the partitions are reassigned at once instead of after the session timeout.
    ///
    /// Blocking: call through `BlockingExecutor`.
    /// - Throws: ``KafkaBusError`` `.consume`.
    func consumerClose() throws {
        let error = rd_kafka_consumer_close(self.handle)
        self.drainLogs()
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw Self.consumeError(error, context: "close failed")
        }
    }

    /// Forwards the log lines waiting in the consumer's log queue to the logger, without waiting. Non-blocking.
    func drainLogs() {
        guard self.kind == .consumer else { return }
        var served = 0
        while served < 1000, let event = rd_kafka_queue_poll(self.eventQueue, 0) {
            defer { rd_kafka_event_destroy(event) }
            served += 1
            if rd_kafka_event_type(event) == Int32(RD_KAFKA_EVENT_LOG) {
                self.forwardLog(event)
            }
        }
    }

    // MARK: Both

    /// Asks any broker for cluster metadata (broker list only), waiting up to `timeout` milliseconds.
    ///
    /// Blocking (up to `timeout`): call through `BlockingExecutor`.
    /// - Throws: ``KafkaBusError`` `.unavailable` when no broker answered in time.
    func requestMetadata(timeout: Int32) throws {
        var metadata: UnsafePointer<rd_kafka_metadata_t>?
        let error = rd_kafka_metadata(self.handle, 0, nil, &metadata, timeout)
        if let metadata {
            rd_kafka_metadata_destroy(metadata)
        }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let mapped = RDKafkaError.map(error, context: "no broker answered a metadata request")
            throw KafkaBusError(
                code: .unavailable,
                message: mapped.message,
                rdKafkaCode: mapped.rdKafkaCode,
                rdKafkaName: mapped.rdKafkaName,
                isRetriable: true,
                isFatal: mapped.isFatal
            )
        }
    }

    // MARK: Helpers

    private static func consumeError(_ code: rd_kafka_resp_err_t, context: String) -> KafkaBusError {
        RDKafkaError.map(code, context: context, as: .consume, when: [.unknown, .rejected])
    }

    /// Copies topic, key, value, headers, partition, offset and timestamp out of librdkafka's memory.
    static func copy(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaBusMessage {
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        var key: String?
        if let keyPointer = message.pointee.key {
            key = String(
                decoding: UnsafeRawBufferPointer(start: keyPointer, count: message.pointee.key_len),
                as: UTF8.self
            )
        }
        var value: [UInt8] = []
        if let payload = message.pointee.payload, message.pointee.len > 0 {
            value = Array(UnsafeRawBufferPointer(start: payload, count: message.pointee.len))
        }
        var headers: [String: String] = [:]
        var list: OpaquePointer?
        // Ownership: the header list belongs to the message and is freed with it.
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var headerValue: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &headerValue, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                if let name {
                    let bytes = headerValue.map { UnsafeRawBufferPointer(start: $0, count: size) }
                    headers[String(cString: name)] = bytes.map { String(decoding: $0, as: UTF8.self) } ?? ""
                }
                index += 1
            }
        }
        var copy = KafkaBusMessage(topic: topic, key: key, value: value, headers: headers)
        copy.partition = message.pointee.partition
        copy.offset = message.pointee.offset
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        copy.timestamp = timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || timestamp < 0 ? nil : timestamp
        return copy
    }

    private static func withOptionalBytes<T>(
        _ bytes: [UInt8]?,
        _ body: (UnsafeRawPointer?, Int) -> T
    ) -> T {
        guard let bytes else { return body(nil, 0) }
        return bytes.withUnsafeBytes { body($0.baseAddress, $0.count) }
    }

    /// Forwards one `RD_KAFKA_EVENT_LOG` event (syslog levels) to swift-log.
    private func forwardLog(_ event: OpaquePointer) {
        var facility: UnsafePointer<CChar>?
        var text: UnsafePointer<CChar>?
        var level: Int32 = 0
        guard rd_kafka_event_log(event, &facility, &text, &level) == 0, let text else { return }
        let swiftLevel: Logger.Level =
            switch level {
            case ...3: .error
            case 4: .warning
            case 5, 6: .info
            default: .debug
            }
        self.logger.log(
            level: swiftLevel,
            "\(String(cString: text))",
            metadata: ["kafka.facility": "\(facility.map { String(cString: $0) } ?? "")"]
        )
    }

    /// Logs one `RD_KAFKA_EVENT_ERROR` event. Such errors are informational unless fatal: librdkafka keeps retrying.
    private func logErrorEvent(_ event: OpaquePointer) {
        let code = rd_kafka_event_error(event)
        let isFatal = rd_kafka_event_error_is_fatal(event) != 0
        let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
        self.logger.log(
            level: isFatal ? .error : .warning,
            "librdkafka error: \(text)",
            metadata: ["kafka.error": "\(RDKafkaError.name(code))", "kafka.fatal": "\(isFatal)"]
        )
    }
}
