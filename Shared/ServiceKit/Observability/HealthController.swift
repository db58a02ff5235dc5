import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import Synchronization

/// The operational routes: `GET /health` (the process is up), `GET /ready` (the store and broker answer),
/// `GET /metrics` (Prometheus) and `GET /openapi.json` (the service's API document). Public: orchestrators, scrapers
/// and API tools call them without tokens.
struct HealthController: Sendable {
    let runtime: ServiceRuntime
    /// The service's OpenAPI document (JSON).
    let apiDocument: [UInt8]

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.get("/health", use: self.health)
        group.get("/ready", use: self.ready)
        group.get("/metrics", use: self.metrics)
        group.get("/openapi.json", use: self.openAPI)
    }

    struct Health: ResponseEncodable {
        var status: String
        var service: String
    }

    /// 200 while the process runs.
    @Sendable func health(request: Request, context: ServiceRequestContext) async throws -> Health {
        Health(status: "ok", service: self.runtime.configuration.service.executableName)
    }

    struct Readiness: Encodable {
        struct Failure: Encodable {
            var code: String
            var message: String
        }
        var status: String
        var checks: [String: String]
        var error: Failure?
    }

    /// 200 when every dependency answered within `READY_TIMEOUT_MS`, else 503 naming the ones that did not.
    @Sendable func ready(request: Request, context: ServiceRequestContext) async throws -> Response {
        if self.runtime.draining.load(ordering: .relaxed) {
            return try Self.json(
                .serviceUnavailable,
                Readiness(
                    status: "draining",
                    checks: [:],
                    error: .init(code: "shutting_down", message: "the service is shutting down")
                )
            )
        }
        let results = await self.runtime.readiness()
        let failed = results.filter { $0.value != nil }.keys.sorted()
        for name in failed {
            context.logger.warning("not ready", metadata: ["check": "\(name)", "error": "\(results[name]!!)"])
        }
        let body = Readiness(
            status: failed.isEmpty ? "ready" : "unready",
            checks: results.mapValues { $0 == nil ? "ok" : "unavailable" },
            error: failed.isEmpty
                ? nil : .init(code: "not_ready", message: "unavailable: \(failed.joined(separator: ", "))")
        )
        return try Self.json(failed.isEmpty ? .ok : .serviceUnavailable, body)
    }

    private static func json(_ status: HTTPResponse.Status, _ body: Readiness) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(body)))
        )
    }

    /// The Prometheus text exposition of the service's metrics.
    @Sendable func metrics(request: Request, context: ServiceRequestContext) async throws -> Response {
        await self.runtime.refreshScrapeMetrics()
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: self.runtime.metrics.emitToBuffer()))
        )
    }

    /// The service's OpenAPI 3.1 document.
    @Sendable func openAPI(request: Request, context: ServiceRequestContext) async throws -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: self.apiDocument))
        )
    }
}
