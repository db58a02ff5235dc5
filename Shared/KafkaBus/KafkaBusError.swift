/// The one error type of KafkaBus: every librdkafka failure is converted into it at the C boundary
/// (`RDKafkaError.swift`), so callers never see a C error code type.
///
/// Branch on ``code`` (an extensible set of `static let` values, so new codes do not break `switch` statements that
/// have a `default`), and on ``isRetriable``: `true` means that sending (or retrying) the same operation again is safe
/// and may succeed, e.g. a message timed out while the brokers were down.
///
/// ``description`` is safe to log and to show in an HTTP error body: it contains the code, a short fixed message and
/// the librdkafka error name, never broker addresses or payloads. `String(reflecting:)` adds the source location.
package struct KafkaBusError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    /// What went wrong, independent of the librdkafka code that caused it.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case configuration, unavailable, timedOut, queueFull, shutdown, rejected, consume, unknown
        }

        private let value: Value

        private init(_ value: Value) {
            self.value = value
        }

        /// Invalid or missing configuration (a missing `KAFKA_BROKERS`, a property librdkafka refuses).
        package static let configuration = Code(.configuration)
        /// No broker could be reached (transport failure, all brokers down, metadata request timed out).
        package static let unavailable = Code(.unavailable)
        /// The message was not acknowledged within `message.timeout.ms` (librdkafka retried internally until then).
        package static let timedOut = Code(.timedOut)
        /// librdkafka's local producer queue is full (`queue.buffering.max.messages`/`kbytes`).
        package static let queueFull = Code(.queueFull)
        /// The producer or consumer is shutting down or has shut down.
        package static let shutdown = Code(.shutdown)
        /// The broker refused the request for a reason that retrying will not fix (too large, not authorised, ...).
        package static let rejected = Code(.rejected)
        /// The consumer failed (subscription, poll, commit or close).
        package static let consume = Code(.consume)
        /// Anything else.
        package static let unknown = Code(.unknown)

        /// The code's name, e.g. `timedOut`.
        package var description: String {
            switch self.value {
            case .configuration: "configuration"
            case .unavailable: "unavailable"
            case .timedOut: "timedOut"
            case .queueFull: "queueFull"
            case .shutdown: "shutdown"
            case .rejected: "rejected"
            case .consume: "consume"
            case .unknown: "unknown"
            }
        }
    }

    /// What went wrong.
    package let code: Code
    /// The underlying `rd_kafka_resp_err_t` value, when librdkafka reported one (negative: local, positive: broker).
    package let rdKafkaCode: Int32?
    /// The librdkafka name of ``rdKafkaCode``, e.g. `_MSG_TIMED_OUT` or `NOT_LEADER_FOR_PARTITION`.
    package let rdKafkaName: String?
    /// Whether doing the same thing again is safe and may succeed.
    package let isRetriable: Bool
    /// Whether the client instance is unusable from now on (librdkafka raised a fatal error); restart the process.
    package let isFatal: Bool
    /// A short fixed message, without secrets or addresses.
    package let message: String
    /// Where the error was created.
    package let fileID: String
    /// Where the error was created.
    package let line: Int

    /// Creates an error; prefer the factory methods, which fill in the right flags.
    /// - Parameters:
    ///   - code: What went wrong.
    ///   - message: A short message without secrets, broker addresses or payloads.
    ///   - rdKafkaCode: The underlying `rd_kafka_resp_err_t` value, if any.
    ///   - rdKafkaName: Its librdkafka name, if any.
    ///   - isRetriable: Whether doing the same thing again is safe and may succeed.
    ///   - isFatal: Whether the client is unusable from now on.
    package init(
        code: Code,
        message: String,
        rdKafkaCode: Int32? = nil,
        rdKafkaName: String? = nil,
        isRetriable: Bool = false,
        isFatal: Bool = false,
        fileID: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.rdKafkaCode = rdKafkaCode
        self.rdKafkaName = rdKafkaName
        self.isRetriable = isRetriable
        self.isFatal = isFatal
        self.fileID = fileID
        self.line = line
    }

    /// `KafkaBusError.<code>: <message> (<rdkafka name>)`, safe to log and to return to clients.
    package var description: String {
        var text = "KafkaBusError.\(self.code): \(self.message)"
        if let name = self.rdKafkaName {
            text += " (\(name))"
        }
        return text
    }

    /// ``description`` plus the flags and the source location.
    package var debugDescription: String {
        "\(self.description) [retriable: \(self.isRetriable), fatal: \(self.isFatal)] at \(self.fileID):\(self.line)"
    }

    /// A configuration error (never retriable).
    /// - Parameter reason: What is wrong, without secret values.
    package static func configuration(_ reason: String, fileID: String = #fileID, line: Int = #line) -> KafkaBusError {
        KafkaBusError(code: .configuration, message: reason, fileID: fileID, line: line)
    }

    /// The client is shutting down or has shut down (never retriable on this instance).
    /// - Parameter reason: What was refused or abandoned.
    package static func shutdown(_ reason: String, fileID: String = #fileID, line: Int = #line) -> KafkaBusError {
        KafkaBusError(code: .shutdown, message: reason, fileID: fileID, line: line)
    }

    /// No broker answered (retriable).
    /// - Parameter reason: What failed.
    package static func unavailable(_ reason: String, fileID: String = #fileID, line: Int = #line) -> KafkaBusError {
        KafkaBusError(code: .unavailable, message: reason, isRetriable: true, fileID: fileID, line: line)
    }
}
