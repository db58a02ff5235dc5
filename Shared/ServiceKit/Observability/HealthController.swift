import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// `GET /health` (the process is up), `GET /ready` (the store and broker answer) and `GET /metrics` (Prometheus).
/// Public: orchestrators and scrapers call them without tokens.
struct HealthController: Sendable {
    let runtime: ServiceRuntime

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.get("/health", use: self.health)
        group.get("/ready", use: self.ready)
        group.get("/metrics", use: self.metrics)
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
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Response(
            status: failed.isEmpty ? .ok : .serviceUnavailable,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(body)))
        )
    }

    /// The Prometheus text exposition of the service's metrics.
    @Sendable func metrics(request: Request, context: ServiceRequestContext) async throws -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: self.runtime.metrics.emitToBuffer()))
        )
    }
}
