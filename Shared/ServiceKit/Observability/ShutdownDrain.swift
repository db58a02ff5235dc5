import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// The first step of a graceful shutdown: on SIGTERM the service marks itself draining — `/ready` answers 503, and
/// every response asks its client to close the connection — and keeps serving for `SHUTDOWN_DRAIN_MS`, so that a load
/// balancer takes it out of rotation and keep-alive clients move to another instance. Then it returns, and the
/// application shuts down: the HTTP server stops accepting and finishes the requests in flight, consumers commit and
/// leave their groups, the producer flushes, the store closes.
///
/// Runs after the application in the process's service group, so graceful shutdown (reverse order) reaches it first.
struct ShutdownDrain: Service {
    let runtime: ServiceRuntime

    func run() async throws {
        // Until SIGTERM/SIGINT; cancellation (a failed service) ends it at once, without a drain.
        try? await gracefulShutdown()
        guard !Task.isCancelled else { return }
        self.runtime.draining.store(true, ordering: .relaxed)
        let period = self.runtime.configuration.shutdownDrain
        self.runtime.logger.info(
            "shutting down: draining before the listener closes",
            metadata: ["shutdown.drain_ms": .stringConvertible(Int64(period / .milliseconds(1)))]
        )
        try? await Task.sleep(for: period)
    }
}

/// While the service drains, answers every request as usual but with `Connection: close`, so that a client on a
/// keep-alive connection opens its next one elsewhere instead of meeting a closed listener.
struct DrainMiddleware<Context: RequestContext>: RouterMiddleware {
    let runtime: ServiceRuntime

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        var response = try await next(request, context)
        if self.runtime.draining.load(ordering: .relaxed) {
            response.headers[.connection] = "close"
        }
        return response
    }
}
