import Foundation
package import Instrumentation
import Logging
import NIOHTTP1
import OTel
package import ServiceContextModule
package import ServiceLifecycle
import Synchronization
package import Tracing

/// Distributed tracing: W3C `traceparent` (and `tracestate`) carried by every REST call and every Kafka message,
/// so that one order is one trace across the services, the outbox hop and the consumers.
///
/// Exported with OpenTelemetry (swift-otel, OTLP over HTTP) only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise
/// no tracer is installed and every span is swift-distributed-tracing's no-op (nothing is recorded, sent or carried).
/// The other `OTEL_*` variables of the OpenTelemetry specification apply (`OTEL_SERVICE_NAME` defaults to the
/// service's executable name, `OTEL_EXPORTER_OTLP_PROTOCOL` to `http/protobuf`, `OTEL_TRACES_SAMPLER`, …). Logs and
/// metrics stay with the service's own backends (JSON lines, Prometheus).
package enum TraceContext {
    private static let tracerInstalled = Atomic<Bool>(false)

    /// Whether ``bootstrap(service:environment:)`` installed a tracer. When it did not, the server middleware, the
    /// service client and the consumers make no spans at all: a no-op span still costs its attributes and the
    /// tracer lookups, about 2% of a service's CPU per order.
    package static var isEnabled: Bool { self.tracerInstalled.load(ordering: .relaxed) }

    /// Installs the OTLP tracer when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, once per process, before the application
    /// is built (its router adds the tracing middleware only when a tracer is installed).
    /// - Returns: the exporter's background service, to run with the application; `nil` when tracing is off.
    static func bootstrap(service: StorefrontService, environment: [String: String]) throws -> (any Service)? {
        guard let endpoint = environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !endpoint.isEmpty else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = service.executableName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        let exporter = try OTel.bootstrap(configuration: configuration, environment: environment)
        self.tracerInstalled.store(true, ordering: .relaxed)
        return exporter
    }

    /// The current trace context as message headers (`traceparent`, `tracestate`); empty when tracing is off.
    package static func headers(of context: ServiceContext? = ServiceContext.current) -> [String: String] {
        var headers: [String: String] = [:]
        if let context {
            InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryInjector())
        }
        return headers
    }

    /// The trace context carried by message headers, on top of a top-level context.
    package static func context(from headers: [String: String]) -> ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(headers, into: &context, using: DictionaryExtractor())
        return context
    }

    /// Adds the current trace context to an outgoing request's headers.
    static func inject(into headers: inout HTTPHeaders) {
        guard let context = ServiceContext.current else { return }
        InstrumentationSystem.instrument.inject(context, into: &headers, using: HTTPHeadersInjector())
    }
}

private struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

private struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

private struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}
