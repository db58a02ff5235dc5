package import Configuration
import Foundation
package import Hummingbird
package import KafkaBus
package import Logging
package import Metrics
package import MongoStore
package import Prometheus
package import ServiceAuth
package import ServiceLifecycle
import Synchronization
import Tracing
import UnixSignals

/// Everything a service is built from, created once in its `main`: configuration, logger, its database, the token
/// authority, the REST client for its peers, metrics, and factories for its Kafka producer and consumers.
///
/// A service's `buildApplication` takes a runtime, registers its routes on ``makeRouter(apiDocument:)``, and returns
/// ``makeApplication(router:services:beforeServerStarts:)``, which runs, in start order, the store, the services
/// given (producer first, then consumers) and the HTTP server; graceful shutdown (SIGTERM/SIGINT) stops them in
/// reverse: HTTP drains, consumers commit and leave, the producer flushes, the store closes.
package final class ServiceRuntime: Sendable {
    package let configuration: ServiceConfiguration
    package let logger: Logger
    package let store: MongoStore
    package let authority: TokenAuthority
    package let client: ServiceClient
    package let metrics: PrometheusCollectorRegistry
    /// Makes the service's own metrics (consumers, outbox, peer calls) in ``metrics``, whether or not the process
    /// bootstrapped swift-metrics (tests do not).
    package let metricsFactory: any MetricsFactory
    private let scrapeMetrics: ScrapeMetrics
    private let reader: ConfigReader
    /// Set on SIGTERM, for the drain (``ShutdownDrain``): `/ready` answers 503 and responses close their connection.
    let draining = Atomic<Bool>(false)
    /// Broker checks of the producer and consumers made so far, for `/ready`.
    private let brokerChecks = Mutex<[@Sendable (Duration) async throws -> Void]>([])
    /// The service's one producer, made on first use: for its events and its consumers' dead letters.
    private let producer = Mutex<KafkaBusProducer?>(nil)

    /// Reads and validates the whole configuration and creates the store (which connects lazily).
    /// - Throws: ``ConfigurationError``, `AuthConfigurationError` or `MongoStoreError` naming what is wrong; the
    ///   service must not start then.
    package init(
        service: StorefrontService,
        reader: ConfigReader,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) async throws {
        let configuration = try ServiceConfiguration(service: service, reader: reader)
        var logger = Logger(label: service.executableName)
        logger.logLevel = configuration.logLevel
        // Every line, from every logger derived from this one (requests, consumers, the drivers), names the replica.
        logger[metadataKey: "instance.id"] = "\(configuration.instanceID)"
        let auth = try AuthConfiguration(reader: reader, isDevelopment: configuration.isDevelopment)
        if auth.usesDevelopmentSecret {
            logger.warning("JWT_SECRET is not set: using the published development secret (APP_ENV=development)")
        }
        self.configuration = configuration
        self.logger = logger
        self.reader = reader
        self.metrics = metrics
        self.metricsFactory = PrometheusMetricsFactory(registry: metrics)
        self.scrapeMetrics = ScrapeMetrics(registry: metrics, logger: logger)
        self.authority = await TokenAuthority(configuration: auth)
        self.store = try MongoStore(
            configuration: try MongoStoreConfiguration(
                reader: reader.scoped(to: "mongo"),
                defaultDatabase: service.defaultDatabase,
                appName: service.executableName
            ),
            logger: logger
        )
        self.client = ServiceClient(
            peerURLs: configuration.peerURLs,
            timeout: configuration.httpClientTimeout,
            tokens: ServiceTokenCache(authority: self.authority, service: service),
            metrics: self.metricsFactory
        )
    }

    /// Sets up process-wide logging (JSON or text, at `LOG_LEVEL`) and metrics (Prometheus). Call once, from `main`,
    /// before anything logs; tests do not call it.
    /// - Returns: the registry `/metrics` exposes.
    package static func bootstrapObservability(_ configuration: ServiceConfiguration) -> PrometheusCollectorRegistry {
        let level = configuration.logLevel
        let format = configuration.logFormat
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardOutput(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// The entry point of every service's `main`: reads the environment, sets up logging and metrics, builds the
    /// application with `build` and runs it until SIGTERM/SIGINT. Exits with status 1 and a one-line reason when the
    /// configuration is unusable.
    package static func run<App: ApplicationProtocol>(
        _ service: StorefrontService,
        build: (ServiceRuntime) async throws -> App
    ) async throws {
        ProcessTuning.apply()
        let reader = ConfigReader.storefront()
        do {
            let registry = Self.bootstrapObservability(try ServiceConfiguration(service: service, reader: reader))
            let runtime = try await ServiceRuntime(service: service, reader: reader, metrics: registry)
            let tracing = try TraceContext.bootstrap(service: service, environment: ProcessInfo.processInfo.environment)
            let app = try await build(runtime)
            // Shut down in reverse order: the drain first (503 on /ready while still serving), then the application,
            // then the trace exporter (it flushes the application's last spans).
            let group = ServiceGroup(
                configuration: .init(
                    services: (tracing.map { [$0] } ?? []) + [app, ShutdownDrain(runtime: runtime)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: runtime.logger
                )
            )
            try await group.run()
        } catch let error as ConfigurationError {
            Self.refuseToStart(service, "\(error)")
        } catch let error as AuthConfigurationError {
            Self.refuseToStart(service, "\(error)")
        } catch let error as MongoStoreError where error.code == .configuration {
            Self.refuseToStart(service, error.detail)
        } catch let error as KafkaBusError where error.code == .configuration {
            Self.refuseToStart(service, "\(error)")
        }
    }

    private static func refuseToStart(_ service: StorefrontService, _ reason: String) -> Never {
        FileHandle.standardError.write(Data("\(service.executableName): refusing to start: \(reason)\n".utf8))
        exit(1)
    }

    /// The service's idempotent producer (`KAFKA_*` keys), made on the first call; later calls return the same one.
    /// Its consumers write their dead letters with it too. ``makeApplication(router:services:beforeServerStarts:)``
    /// runs it before the services it is given (so it stops after the consumers), whether or not they include it.
    package func makeProducer() throws -> KafkaBusProducer {
        try self.producer.withLock { existing in
            if let existing { return existing }
            let producer = try KafkaBusProducer(configuration: try self.kafkaConfiguration(), logger: self.logger)
            self.brokerChecks.withLock { $0.append { try await producer.checkReachable(timeout: $0) } }
            existing = producer
            return producer
        }
    }

    /// A consumer-group member whose `handler` runs with the event's request id bound (``CurrentRequest/id``) and
    /// in the logger metadata, so the work an event causes can be traced back to the request that caused it. What it
    /// gives up on goes to the topic's dead-letter topic through ``makeProducer()`` (`KAFKA_HANDLER_MAX_ATTEMPTS`,
    /// `KAFKA_HANDLER_RETRY_TIMEOUT_MS`).
    package func makeConsumer(
        groupID: String,
        topics: [String],
        handler: @escaping @Sendable (KafkaBusMessage, Logger) async throws -> Void
    ) throws -> KafkaBusConsumer {
        let logger = self.logger
        let consumer = try KafkaBusConsumer(
            configuration: try self.kafkaConfiguration(),
            groupID: groupID,
            topics: topics,
            logger: logger,
            deadLetters: try self.makeProducer(),
            metrics: self.metricsFactory
        ) { message in
            let id = CurrentRequest.accept(message.headers[CurrentRequest.eventHeader]) ?? CurrentRequest.generate()
            var eventLogger = logger
            eventLogger[metadataKey: "request.id"] = "\(id)"
            eventLogger[metadataKey: "kafka.topic"] = "\(message.topic)"
            eventLogger[metadataKey: "kafka.offset"] = "\(message.partition)/\(message.offset)"
            let handle = { try await CurrentRequest.$id.withValue(id) { try await handler(message, eventLogger) } }
            guard TraceContext.isEnabled else { return try await handle() }
            // A consumer span, child of the producer's context when the message carries one (`traceparent`).
            try await withSpan(
                "\(message.topic) process",
                context: TraceContext.context(from: message.headers),
                ofKind: .consumer
            ) { span in
                span.attributes["messaging.destination.name"] = message.topic
                span.attributes["messaging.consumer.group.name"] = groupID
                try await handle()
            }
        }
        self.brokerChecks.withLock { $0.append { try await consumer.checkReachable(timeout: $0) } }
        return consumer
    }

    /// A service-specific setting by its dotted key (`bcrypt.cost` is `BCRYPT_COST`, `admin.email` is `ADMIN_EMAIL`),
    /// for the service's own typed configuration; `nil` when unset. Pass `isSecret` for passwords so they are
    /// redacted wherever the configuration reports what it read. Non-blocking.
    package func setting(_ key: String, isSecret: Bool = false) -> String? {
        self.reader.string(forKey: ConfigKey(key), isSecret: isSecret)
    }

    /// A service-specific setting that must be a positive integer (a count, milliseconds, seconds); `nil` when unset.
    /// - Throws: ``ConfigurationError`` naming the key when it is set to anything else: the service refuses to start.
    package func positiveSetting(_ key: String) throws -> Int? {
        guard let text = self.setting(key) else { return nil }
        guard let value = Int(text), value > 0 else {
            throw ConfigurationError(key: key, value: text, expected: "a positive integer")
        }
        return value
    }

    /// The relay that publishes this service's transactional outbox (``Outbox``) through `producer`. Add it to
    /// ``makeApplication(router:services:beforeServerStarts:)`` right after the producer, and call ``Outbox/prepare(_:)``
    /// in `beforeServerStarts`.
    ///
    /// Reads `outbox.poll.interval.ms` (`OUTBOX_POLL_INTERVAL_MS`): how often it looks for records nobody notified it
    /// about (left by a crash); default 5000. Writers wake it when their transaction commits, so this is not the
    /// delay of an event.
    /// - Throws: ``ConfigurationError`` when the interval is not a positive integer.
    package func makeOutboxRelay(producer: KafkaBusProducer) throws -> OutboxRelay {
        let relay = OutboxRelay(
            store: self.store,
            producer: producer,
            pollInterval: .milliseconds(try self.positiveSetting("outbox.poll.interval.ms") ?? 5000),
            logger: self.logger,
            metrics: self.metricsFactory
        )
        self.onScrape { [metrics = self.metrics] in
            let backlog = try await relay.backlog()
            metrics.makeGauge(name: "storefront_outbox_backlog").set(Double(backlog.records))
            metrics.makeGauge(name: "storefront_outbox_oldest_age_seconds")
                .set(Double(backlog.oldestAge / .milliseconds(1)) / 1000)
        }
        return relay
    }

    /// Runs `refresh` at every scrape of `/metrics`, before the figures are written (at most `READY_TIMEOUT_MS`;
    /// errors are logged): for gauges read from the store, e.g. ``labelledGauge(_:label:)``.
    package func onScrape(_ refresh: @escaping @Sendable () async throws -> Void) {
        self.scrapeMetrics.add(refresh)
    }

    /// A gauge family with one label in ``metrics``, e.g. `storefront_orders` by `status`.
    package func labelledGauge(_ name: String, label: String) -> LabelledGauge {
        LabelledGauge(registry: self.metrics, name: name, label: label)
    }

    /// Refreshes the scrape-time gauges (``onScrape(_:)``, the process figures); `/metrics` calls it.
    func refreshScrapeMetrics() async {
        await self.scrapeMetrics.refresh(timeout: self.configuration.readyTimeout)
    }

    /// A router with the platform's middleware and the public operational routes: `/health`, `/ready`, `/metrics`
    /// and `/openapi.json`, which serves `apiDocument` (the service's `openapi.json`, compiled in).
    package func makeRouter(apiDocument: [UInt8]) -> ServiceRouter<ServiceRequestContext> {
        let router = ServiceRouter<ServiceRequestContext>(
            authority: self.authority,
            instanceID: self.configuration.instanceID
        )
        router.add(middleware: DrainMiddleware(runtime: self))
        HealthController(runtime: self, apiDocument: apiDocument).addRoutes(to: router.public)
        return router
    }

    /// The application: the store, then `services` in order (producer, then consumers), then the HTTP server on
    /// `HTTP_HOST` and the service's port. `beforeServerStarts` runs once the services run and before the port opens
    /// (create indexes there).
    package func makeApplication(
        router: ServiceRouter<ServiceRequestContext>,
        services: [any Service] = [],
        beforeServerStarts: @escaping @Sendable () async throws -> Void = {}
    ) -> Application<RouterResponder<ServiceRequestContext>> {
        var app = Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(self.configuration.host, port: self.configuration.port),
                serverName: self.configuration.service.executableName
            ),
            services: [self.store] + self.ownedServices(besides: services) + services,
            logger: self.logger
        )
        app.beforeServerStarts(perform: beforeServerStarts)
        return app
    }

    /// The runtime's own services that `services` lacks: the producer, when one was made (it must start before
    /// the consumers that dead-letter through it, and stop after them).
    private func ownedServices(besides services: [any Service]) -> [any Service] {
        guard let producer = self.producer.withLock({ $0 }) else { return [] }
        return services.contains { ($0 as? KafkaBusProducer) === producer } ? [] : [producer]
    }

    /// Runs every readiness check (store ping, broker metadata), each limited to `READY_TIMEOUT_MS`.
    /// - Returns: each check's name and `nil` when it passed, or why it failed.
    func readiness() async -> [String: String?] {
        let timeout = self.configuration.readyTimeout
        var checks: [(String, @Sendable () async throws -> Void)] = [("mongo", { [store] in try await store.ping() })]
        for (index, check) in self.brokerChecks.withLock({ $0 }).enumerated() {
            checks.append((index == 0 ? "kafka" : "kafka.\(index)", { try await check(timeout) }))
        }
        return await withTaskGroup(of: (String, String?).self) { group in
            for (name, check) in checks {
                group.addTask {
                    do {
                        try await withDeadline(timeout) { try await check() }
                        return (name, nil)
                    } catch {
                        return (name, "\(error)")
                    }
                }
            }
            return await group.reduce(into: [:]) { results, result in results[result.0] = .some(result.1) }
        }
    }

    /// The `KAFKA_*` settings, for clients the runtime does not make itself (a `KafkaBusReader`).
    package func kafkaConfiguration() throws -> KafkaBusConfiguration {
        try KafkaBusConfiguration(
            reader: self.reader.scoped(to: "kafka"),
            defaultClientID: self.configuration.service.executableName
        )
    }
}

/// A check did not finish within its time limit.
package struct DeadlineExceeded: Error, CustomStringConvertible {
    package let limit: Duration
    package var description: String { "no answer within \(self.limit)" }
}

/// Runs `operation`, throwing ``DeadlineExceeded`` if it has not finished after `limit`, which it does on time even
/// when the operation ignores cancellation (a blocking call on a thread pool): the operation is cancelled and left to
/// end on its own, its result dropped. (A task group would wait for it: that made `/ready` take the store's 5 s
/// server-selection timeout whatever `READY_TIMEOUT_MS` said.)
package func withDeadline<T: Sendable>(
    _ limit: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation, limit: limit, operation)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The state of one ``withDeadline(_:_:)``: the first of the operation, the timer and cancellation resumes the
/// caller; the others find nothing left to do. Thread-safe.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var outcome: Result<T, any Error>?
        var tasks: [Task<Void, Never>] = []
    }
    private let state = Mutex(State())

    func start(
        _ continuation: CheckedContinuation<T, any Error>,
        limit: Duration,
        _ operation: @escaping @Sendable () async throws -> T
    ) {
        let work = Task {
            do { self.finish(.success(try await operation())) } catch { self.finish(.failure(error)) }
        }
        let timer = Task {
            guard (try? await Task.sleep(for: limit)) != nil else { return }
            self.finish(.failure(DeadlineExceeded(limit: limit)))
        }
        let early = self.state.withLock { state -> Result<T, any Error>? in
            state.tasks = [work, timer]
            guard let outcome = state.outcome else {
                state.continuation = continuation
                return nil
            }
            return outcome
        }
        if let early {  // finished (or cancelled) before the continuation was stored
            work.cancel()
            timer.cancel()
            continuation.resume(with: early)
        }
    }

    func finish(_ outcome: Result<T, any Error>) {
        let (continuation, tasks) = self.state.withLock {
            state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard state.outcome == nil else { return (nil, []) }
            state.outcome = outcome
            defer { state.continuation = nil }
            return (state.continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(with: outcome)
    }
}
