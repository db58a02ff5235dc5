import Configuration
import KafkaBus
import TestSupport
import Testing

/// Configuration reading and broker reachability.
extension KafkaBusTests {
    @Test("configuration: KAFKA_* environment keys are read through a reader scoped to kafka")
    func configurationFromEnvironment() throws {
        let reader = ConfigReader(
            provider: EnvironmentVariablesProvider(environmentVariables: [
                "KAFKA_BROKERS": "127.0.0.1:1,127.0.0.1:2",
                "KAFKA_MESSAGE_TIMEOUT_MS": "1500",
                "KAFKA_SESSION_TIMEOUT_MS": "7000",
                "KAFKA_AUTO_COMMIT_INTERVAL_MS": "600",
                "KAFKA_RETRY_BACKOFF_MAX_MS": "250",
            ])
        )
        let configuration = try KafkaBusConfiguration(reader: reader.scoped(to: "kafka"), defaultClientID: "users")
        #expect(configuration.brokers == "127.0.0.1:1,127.0.0.1:2")
        #expect(configuration.clientID == "users")
        #expect(configuration.messageTimeout == .milliseconds(1500))
        #expect(configuration.sessionTimeout == .milliseconds(7000))
        #expect(configuration.autoCommitInterval == .milliseconds(600))
        #expect(configuration.retryBackoffMax == .milliseconds(250))

        let defaults = try KafkaBusConfiguration(
            reader: ConfigReader(provider: InMemoryProvider(values: ["brokers": "b:9092", "client.id": "custom"])),
            defaultClientID: "users"
        )
        #expect(defaults.clientID == "custom")
        #expect(defaults.messageTimeout == .milliseconds(30_000))
        #expect(defaults.sessionTimeout == .milliseconds(10_000))
        #expect(defaults.autoCommitInterval == .milliseconds(5000))
        #expect(defaults.retryBackoffMax == .milliseconds(10_000))
    }

    @Test("configuration: missing brokers, a bad number or a refused librdkafka property is a .configuration error")
    func configurationErrors() throws {
        let missing = #expect(throws: KafkaBusError.self) {
            _ = try KafkaBusConfiguration(
                reader: ConfigReader(provider: InMemoryProvider(values: ["client.id": "x"])),
                defaultClientID: "users"
            )
        }
        #expect(missing?.code == .configuration)
        #expect(missing?.isRetriable == false)

        let empty = #expect(throws: KafkaBusError.self) {
            _ = try KafkaBusConfiguration(
                reader: ConfigReader(
                    provider: EnvironmentVariablesProvider(environmentVariables: ["KAFKA_BROKERS": ""])
                )
                .scoped(to: "kafka"),
                defaultClientID: "users"
            )
        }
        #expect(empty?.code == .configuration)

        let notANumber = #expect(throws: KafkaBusError.self) {
            _ = try KafkaBusConfiguration(
                reader: ConfigReader(
                    provider: InMemoryProvider(values: ["brokers": "b:1", "message.timeout.ms": "soon"])
                ),
                defaultClientID: "users"
            )
        }
        #expect(notANumber?.code == .configuration)

        var configuration = KafkaBusConfiguration(brokers: "127.0.0.1:1", clientID: "x")
        configuration.additional = ["no.such.property": "1"]
        let refused = #expect(throws: KafkaBusError.self) {
            _ = try KafkaBusProducer(configuration: configuration, logger: Self.logger)
        }
        #expect(refused?.code == .configuration)
        #expect(refused?.description.contains("no.such.property") == true)

        configuration.additional = ["sasl.password": "hunter2", "acks": "sometimes"]
        let invalid = #expect(throws: KafkaBusError.self) {
            _ = try KafkaBusConsumer(configuration: configuration, groupID: "g", topics: ["t"], logger: Self.logger) {
                _ in
            }
        }
        #expect(invalid?.code == .configuration)
        #expect(invalid.map { String(reflecting: $0) }?.contains("hunter2") == false)
    }

    @Test("checkReachable succeeds against the broker and fails with .unavailable against a closed port in time")
    func checkReachable() async throws {
        let brokers = try TestEnvironment.kafkaBrokers()
        let producer = try KafkaBusProducer(configuration: Self.configuration(brokers: brokers), logger: Self.logger)
        try await producer.checkReachable(timeout: .seconds(5))
        let consumer = try KafkaBusConsumer(
            configuration: Self.configuration(brokers: brokers),
            groupID: TestEnvironment.uniqueName("g"),
            topics: ["user-created"],
            logger: Self.logger
        ) { _ in }
        try await consumer.checkReachable(timeout: .seconds(5))

        // Port 1 on loopback: nothing listens there, connections are refused.
        let closed = try KafkaBusProducer(
            configuration: Self.configuration(brokers: "127.0.0.1:1"),
            logger: Self.logger
        )
        let start = ContinuousClock.now
        let error = await #expect(throws: KafkaBusError.self) {
            try await closed.checkReachable(timeout: .seconds(1))
        }
        let elapsed = ContinuousClock.now - start
        #expect(error?.code == .unavailable)
        #expect(error?.isRetriable == true)
        // The 1 s limit is the behaviour: not before it (less clock slack), and far from "never" on a busy machine.
        #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(20), "waited \(elapsed)")
    }
}
