package import HTTPTypes
package import Hummingbird
import Logging

/// Gives every request an id: the caller's `X-Request-ID` when it is sane, a new one otherwise. The id goes into every
/// log line of the request (`request.id`), the response's `X-Request-ID` header, and ``CurrentRequest/id`` for the
/// duration of the request, from where ``ServiceClient`` and ``EventPublisher`` pass it on. With an `instanceID`,
/// every response also names the replica that answered (`X-Instance-ID`), so balancing behind a gateway shows.
package struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    package static var instanceHeaderName: HTTPField.Name { HTTPField.Name("X-Instance-ID")! }
    let instanceID: String?

    package init(instanceID: String? = nil) {
        self.instanceID = instanceID
    }

    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let id = CurrentRequest.accept(request.headers[CurrentRequest.headerName]) ?? CurrentRequest.generate()
        var context = context
        context.logger[metadataKey: "request.id"] = "\(id)"
        context.logger[metadataKey: "hb.request.id"] = nil  // Hummingbird's own id: one id per request in the logs
        var response = try await CurrentRequest.$id.withValue(id) {
            try await next(request, context)
        }
        response.headers[CurrentRequest.headerName] = id
        if let instanceID = self.instanceID { response.headers[Self.instanceHeaderName] = instanceID }
        return response
    }
}

/// One log line per request at `info`: method, path, status and duration.
package struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    package init() {}

    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        context.logger.info(
            "\(request.method) \(request.uri.path) \(response.status.code)",
            metadata: [
                "http.method": "\(request.method)",
                "http.path": "\(request.uri.path)",
                "http.status": .stringConvertible(response.status.code),
                "http.duration_ms": .stringConvertible(Int64(elapsed / .milliseconds(1))),
            ]
        )
        return response
    }
}
