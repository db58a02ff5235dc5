package import Configuration

/// Connection and timing settings shared by ``KafkaBusProducer`` and ``KafkaBusConsumer``.
///
/// A plain value: build it with ``init(brokers:clientID:)`` (tests) or ``init(reader:defaultClientID:)`` (services),
/// then adjust the properties. The typed properties are turned into librdkafka properties when a client is created;
/// ``additional`` is applied last and so can override any of them.
package struct KafkaBusConfiguration: Sendable {
    /// `bootstrap.servers`: comma-separated `host:port` list. Config key `brokers` (`KAFKA_BROKERS`), required.
    package var brokers: String
    /// `client.id`, shown in broker logs. Config key `client.id` (`KAFKA_CLIENT_ID`); defaults to the service name.
    package var clientID: String
    /// `message.timeout.ms`: how long ``KafkaBusProducer/send(_:)`` may wait for an acknowledgement while librdkafka
    /// retries internally (broker down, leader change). Config key `message.timeout.ms`
    /// (`KAFKA_MESSAGE_TIMEOUT_MS`), default 30000 ms. Also bounds the producer's flush on graceful shutdown.
    package var messageTimeout: Duration
    /// `session.timeout.ms` of the consumer group: how long a member that stopped heartbeating keeps its partitions.
    /// Config key `session.timeout.ms` (`KAFKA_SESSION_TIMEOUT_MS`), default 10000 ms. Also bounds the final commit
    /// of a consumer's graceful close.
    package var sessionTimeout: Duration
    /// `auto.commit.interval.ms`: how often a consumer commits the offsets of the messages it handled, so how much a
    /// crash (no graceful close) redelivers at most. Config key `auto.commit.interval.ms`
    /// (`KAFKA_AUTO_COMMIT_INTERVAL_MS`), default 5000 ms.
    package var autoCommitInterval: Duration
    /// Cap of the consumer's handler-retry backoff (100 ms doubling up to this). Config key `retry.backoff.max.ms`
    /// (`KAFKA_RETRY_BACKOFF_MAX_MS`), default 10000 ms.
    package var retryBackoffMax: Duration
    /// How many times a consumer runs its handler on one message before it dead-letters it. Config key
    /// `handler.max.attempts` (`KAFKA_HANDLER_MAX_ATTEMPTS`), default 20.
    package var handlerMaxAttempts: Int
    /// How long a consumer keeps retrying one message (from its first attempt) before it dead-letters it: the
    /// longest a failing message holds its partition back. Config key `handler.retry.timeout.ms`
    /// (`KAFKA_HANDLER_RETRY_TIMEOUT_MS`), default 60000 ms.
    package var handlerRetryTimeout: Duration
    /// `fetch.wait.max.ms` of a consumer: how long a broker may hold a fetch that finds no new message. A real broker
    /// answers as soon as a message arrives, so this only bounds idle round trips; librdkafka's mock cluster (the dev
    /// broker) always holds an empty fetch for the whole time, so there it adds up to this much to every event's
    /// delivery. Config key `fetch.wait.max.ms` (`KAFKA_FETCH_WAIT_MAX_MS`), default 500 ms (librdkafka's; what
    /// production uses); env.example sets 25 for the dev broker.
    package var fetchWaitMax: Duration
    /// The longest a producer's or consumer's loop sleeps when librdkafka signals nothing: a safety net only, since
    /// librdkafka wakes the loops when their queue receives something. Not read from configuration; default 5 s (far
    /// below librdkafka's `max.poll.interval.ms`, after which a silent consumer would leave its group).
    package var idleWait: Duration
    /// Prepended to every topic name this client produces to or subscribes to, and stripped from the topics of the
    /// messages and reports it hands back, so code only ever sees the logical names (`user-created`). Lets several
    /// environments (or test runs) share one cluster without seeing each other's events. Config key `topic.prefix`
    /// (`KAFKA_TOPIC_PREFIX`), default empty.
    package var topicPrefix: String
    /// librdkafka properties passed straight to `rd_kafka_conf_set` after the typed ones (escape hatch, e.g.
    /// `reconnect.backoff.max.ms`, `debug`, `statistics.interval.ms`). Not read from configuration.
    package var additional: [String: String]

    /// Creates a configuration with the defaults listed on each property.
    /// - Parameters:
    ///   - brokers: `bootstrap.servers`, e.g. `127.0.0.1:9092`.
    ///   - clientID: `client.id`, usually the service name.
    package init(brokers: String, clientID: String) {
        self.brokers = brokers
        self.clientID = clientID
        self.messageTimeout = .milliseconds(30_000)
        self.sessionTimeout = .milliseconds(10_000)
        self.autoCommitInterval = .milliseconds(5000)
        self.retryBackoffMax = .milliseconds(10_000)
        self.handlerMaxAttempts = 20
        self.handlerRetryTimeout = .milliseconds(60_000)
        self.fetchWaitMax = .milliseconds(500)
        self.idleWait = .seconds(5)
        self.topicPrefix = ""
        self.additional = [:]
    }

    /// Reads the configuration from a reader **already scoped to `kafka`**:
    /// `KafkaBusConfiguration(reader: reader.scoped(to: "kafka"), defaultClientID: "users")`.
    ///
    /// | key (in scope) | environment | type | default |
    /// | --- | --- | --- | --- |
    /// | `brokers` | `KAFKA_BROKERS` | string | required |
    /// | `client.id` | `KAFKA_CLIENT_ID` | string | `defaultClientID` |
    /// | `message.timeout.ms` | `KAFKA_MESSAGE_TIMEOUT_MS` | int > 0 | 30000 |
    /// | `session.timeout.ms` | `KAFKA_SESSION_TIMEOUT_MS` | int > 0 | 10000 |
    /// | `auto.commit.interval.ms` | `KAFKA_AUTO_COMMIT_INTERVAL_MS` | int > 0 | 5000 |
    /// | `retry.backoff.max.ms` | `KAFKA_RETRY_BACKOFF_MAX_MS` | int > 0 | 10000 |
    /// | `handler.max.attempts` | `KAFKA_HANDLER_MAX_ATTEMPTS` | int > 0 | 20 |
    /// | `handler.retry.timeout.ms` | `KAFKA_HANDLER_RETRY_TIMEOUT_MS` | int > 0 | 60000 |
    /// | `fetch.wait.max.ms` | `KAFKA_FETCH_WAIT_MAX_MS` | int > 0 | 500 |
    /// | `topic.prefix` | `KAFKA_TOPIC_PREFIX` | string | empty |
    ///
    /// - Parameters:
    ///   - reader: A reader scoped to `kafka`.
    ///   - defaultClientID: The `client.id` used when none is configured, usually the service name.
    /// - Throws: ``KafkaBusError`` with code `.configuration` when `brokers` is missing or empty, or when a timeout is
    ///   not a positive integer.
    package init(reader: ConfigReader, defaultClientID: String) throws {
        guard let brokers = reader.string(forKey: "brokers"), !brokers.isEmpty else {
            throw KafkaBusError.configuration("missing kafka.brokers (KAFKA_BROKERS)")
        }
        self.init(brokers: brokers, clientID: reader.string(forKey: "client.id", default: defaultClientID))
        self.messageTimeout = try Self.milliseconds(reader, "message.timeout.ms", default: self.messageTimeout)
        self.sessionTimeout = try Self.milliseconds(reader, "session.timeout.ms", default: self.sessionTimeout)
        self.autoCommitInterval = try Self.milliseconds(
            reader,
            "auto.commit.interval.ms",
            default: self.autoCommitInterval
        )
        self.retryBackoffMax = try Self.milliseconds(reader, "retry.backoff.max.ms", default: self.retryBackoffMax)
        self.handlerRetryTimeout = try Self.milliseconds(
            reader,
            "handler.retry.timeout.ms",
            default: self.handlerRetryTimeout
        )
        self.fetchWaitMax = try Self.milliseconds(reader, "fetch.wait.max.ms", default: self.fetchWaitMax)
        if let text = reader.string(forKey: "handler.max.attempts") {
            guard let attempts = Int(text), attempts > 0 else {
                throw KafkaBusError.configuration("kafka.handler.max.attempts must be a positive integer")
            }
            self.handlerMaxAttempts = attempts
        }
        self.topicPrefix = reader.string(forKey: "topic.prefix", default: "")
    }

    /// The topic's name on the cluster: ``topicPrefix`` + `topic`.
    package func physicalTopic(_ topic: String) -> String { self.topicPrefix + topic }

    /// The logical name of a topic read from the cluster (``topicPrefix`` removed).
    package func logicalTopic(_ topic: String) -> String {
        topic.hasPrefix(self.topicPrefix) ? String(topic.dropFirst(self.topicPrefix.count)) : topic
    }

    /// Reads a positive integer number of milliseconds, rejecting values that are present but not positive integers
    /// (instead of silently falling back to the default). Read as text and parsed here, so that every provider
    /// (environment, in-memory overrides) is read the same way.
    private static func milliseconds(
        _ reader: ConfigReader,
        _ key: String,
        default defaultValue: Duration
    ) throws -> Duration {
        guard let text = reader.string(forKey: ConfigKey(key)) else { return defaultValue }
        guard let value = Int(text) else {
            throw KafkaBusError.configuration("kafka.\(key) must be an integer number of milliseconds")
        }
        guard value > 0 else { throw KafkaBusError.configuration("kafka.\(key) must be positive") }
        return .milliseconds(value)
    }
}

extension Duration {
    /// The duration in whole milliseconds, clamped to `Int32` (what librdkafka's `*.ms` properties and timeouts take).
    var clampedMilliseconds: Int32 {
        let (seconds, attoseconds) = self.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? 0 : Int32.max }
        let milliseconds = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        if milliseconds.overflow { return Int32.max }
        return Int32(clamping: max(0, milliseconds.partialValue))
    }
}
