import Foundation
package import Hummingbird
import KafkaBus
import Logging
import Metrics
import MongoStore
import ServiceAuth

/// Turns every error a request can end in into the JSON error envelope, so no client ever sees an empty body,
/// plain text or an internal message: the one place where library errors become HTTP statuses.
///
/// | error | status, code |
/// |---|---|
/// | ``APIError`` | its own |
/// | `AuthError` | 401 `unauthenticated`/`invalid_token`, 403 `forbidden` |
/// | no route for the path | 404 `not_found` (405 `method_not_allowed` is answered by ``ServiceRouter``) |
/// | Hummingbird's `HTTPError` (bad JSON body, ...) and any other client error that knows its status (a body over the
/// limit: NIO's `NIOTooManyBytesError` → 413 `payload_too_large`) | its status, code from the status |
/// | `MongoStoreError` duplicate key | 409 `conflict` |
/// | `MongoStoreError` / `KafkaBusError` that may pass | 503 `unavailable` |
/// | ``ServiceClientError`` `.unavailable` (a peer down, slow or answering 5xx) | 503 `dependency_unavailable` |
/// | ``ServiceClientError`` `.invalidResponse` (a peer answering outside its contract) | 502 `dependency_failed` |
/// | anything else | 500 `internal`, logged with detail at error level |
package struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    package init() {}

    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            // Hummingbird's own not-found responder marks the request with the endpoint path "NotFound".
            let noRoute = context.endpointPath == nil || context.endpointPath == "NotFound"
            let apiError = Self.apiError(for: error, request: request, routeMatched: !noRoute)
            // Hummingbird's metrics middleware runs outside this one and sees a response, not an error: count it here,
            // under the framework's own name and labels (`error.type` is the status the client got).
            Counter(
                label: "hb.request.errors",
                dimensions: [
                    ("http.route", noRoute ? "NotFound" : context.endpointPath ?? "Unknown"),
                    ("http.request.method", request.method.description),
                    ("error.type", apiError.status.code.description),
                ]
            ).increment()
            if apiError.status.code >= 500 {
                context.logger.error(
                    "request failed",
                    metadata: [
                        "error": "\(String(reflecting: error))",
                        "http.status": .stringConvertible(apiError.status.code),
                    ]
                )
            } else {
                context.logger.debug("request rejected", metadata: ["error": "\(apiError)"])
            }
            return apiError.response()
        }
    }

    /// The envelope for `error`. `routeMatched` tells a handler's own 404 from the router's "no such path".
    static func apiError(for error: any Error, request: Request, routeMatched: Bool) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as AuthError:
            return APIError(error.status, code: error.code, message: error.message, headers: error.headers)
        case let error as HTTPError where error.status == .notFound && !routeMatched:
            return APIError(.notFound, code: "not_found", message: "no route for \(request.method) \(request.uri.path)")
        case let error as HTTPError:
            return APIError(
                error.status,
                code: Self.code(for: error.status),
                message: error.body ?? error.status.reasonPhrase,
                headers: error.headers
            )
        case let error as any HTTPResponseError where (400..<500).contains(error.status.code):
            return APIError(error.status, code: Self.code(for: error.status), message: Self.message(for: error.status))
        case let error as MongoStoreError where error.code == .duplicateKey:
            return .conflict("a record with the same unique value already exists")
        case let error as MongoStoreError where error.isRetriable || error.code == .shutdown:
            return .unavailable("the database is unavailable; try again later")
        case let error as KafkaBusError
        where error.isRetriable || error.code == .unavailable || error.code == .shutdown:
            return .unavailable("the message broker is unavailable; try again later")
        case let error as ServiceClientError where error.code == .unavailable:
            return .unavailable("\(error.peer) is unavailable; try again later", code: "dependency_unavailable")
        case let error as ServiceClientError:
            return APIError(
                .badGateway,
                code: "dependency_failed",
                message: "\(error.peer.executableName) answered outside its contract"
            )
        default:
            return .internal
        }
    }

    /// What a client error that carries no message of its own says.
    static func message(for status: HTTPResponse.Status) -> String {
        status == .contentTooLarge ? "the request body is too large" : status.reasonPhrase
    }

    /// A stable snake_case code for a status Hummingbird itself answered with.
    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .badRequest: "bad_request"
        case .unauthorized: "unauthenticated"
        case .forbidden: "forbidden"
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: "payload_too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        default: status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
        }
    }
}
