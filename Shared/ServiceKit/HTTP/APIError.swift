import Foundation
package import Hummingbird

/// A failure the client is told about, as `{"error": {"code": "...", "message": "..."}}` with a 4xx or 5xx status.
///
/// Handlers throw these for everything the client got wrong (`.validation("quantity must be positive")`) and for
/// missing resources (`.notFound("user")`); ``ErrorMiddleware`` turns every other error into one of these.
/// `code` is a stable, machine-readable snake_case word; `message` is for people and never holds internals.
package struct APIError: Error, HTTPResponseError, CustomStringConvertible, Equatable {
    package var status: HTTPResponse.Status
    package var code: String
    package var message: String
    package var headers: HTTPFields
    /// Machine-readable facts beside `code` and `message` in the `error` object (e.g. the `orderId` a conflict is
    /// about). Never internals.
    package var details: [String: String]

    package init(
        _ status: HTTPResponse.Status,
        code: String,
        message: String,
        headers: HTTPFields = [:],
        details: [String: String] = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.details = details
    }

    package var description: String { "\(self.status.code) \(self.code): \(self.message)" }

    /// 400: the request is malformed (bad JSON, bad id, bad query parameter).
    package static func badRequest(_ message: String, code: String = "bad_request") -> APIError {
        APIError(.badRequest, code: code, message: message)
    }

    /// 400: the request is well-formed but a field's value is not acceptable.
    package static func validation(_ message: String) -> APIError {
        APIError(.badRequest, code: "validation_failed", message: message)
    }

    /// 404: `what` does not exist ("user", "order").
    package static func notFound(_ what: String) -> APIError {
        APIError(.notFound, code: "not_found", message: "\(what) not found")
    }

    /// 409: the request conflicts with the current state (a taken email, an order that is already final).
    package static func conflict(_ message: String, code: String = "conflict") -> APIError {
        APIError(.conflict, code: code, message: message)
    }

    /// 422: the request is valid but cannot be processed as asked (an amount that differs from the order total).
    package static func unprocessable(_ message: String, code: String = "unprocessable") -> APIError {
        APIError(.unprocessableContent, code: code, message: message)
    }

    /// 503: a dependency (store, broker, peer service) is unavailable; the client may retry later.
    package static func unavailable(_ message: String, code: String = "unavailable") -> APIError {
        APIError(.serviceUnavailable, code: code, message: message)
    }

    /// 500: our fault. The message never says more than this.
    package static let `internal` = APIError(
        .internalServerError,
        code: "internal",
        message: "an internal error occurred; it has been logged"
    )

    /// The error as a JSON response.
    package func response(from request: Request, context: some RequestContext) throws -> Response {
        self.response()
    }

    /// The error as a JSON response, without needing a request (middleware that build responses themselves).
    package func response() -> Response {
        struct Body: Encodable {
            var error: [String: String]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]  // the same error, the same bytes
        let fields = self.details.merging(["code": self.code, "message": self.message]) { _, fixed in fixed }
        let json =
            (try? encoder.encode(Body(error: fields)))
            ?? Data(#"{"error":{"code":"internal","message":"an internal error occurred"}}"#.utf8)
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }
}
