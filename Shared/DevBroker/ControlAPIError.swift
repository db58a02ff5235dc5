import Hummingbird
import Logging

/// An error of the control API, rendered as `{"error": {"code": ..., "message": ...}}` with its status.
struct ControlAPIError: HTTPResponseError, Sendable {
    /// The JSON body.
    struct Body: Encodable {
        struct Detail: Encodable {
            let code: String
            let message: String
        }

        let error: Detail
    }

    /// The HTTP status (4xx for client errors).
    let status: HTTPResponse.Status
    /// A stable machine-readable code, e.g. `unknown_broker`.
    let code: String
    /// A human-readable message.
    let message: String

    init(_ status: HTTPResponse.Status, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// Renders the JSON error body.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try context.responseEncoder.encode(
            Body(error: .init(code: self.code, message: self.message)),
            from: request,
            context: context
        )
        response.status = self.status
        return response
    }
}

/// Renders every error the routes throw in the control API's JSON shape: ``ControlAPIError`` as is, Hummingbird's
/// `HTTPError` (404 for unknown routes, 400 for undecodable bodies) with its status, anything else as a 500.
struct ControlAPIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ControlAPIError {
            throw error
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "not_found" : "http_\(error.status.code)"
            throw ControlAPIError(error.status, code: code, error.body ?? error.status.reasonPhrase)
        } catch {
            context.logger.error("control API request failed", metadata: ["error": "\(error)"])
            throw ControlAPIError(.internalServerError, code: "internal", "internal error")
        }
    }
}
