import HTTPTypes
package import ServiceKit

/// How every contract client reads an answer it did not expect: the same rule for every peer, so an error keeps its
/// meaning across services.
///
/// - a 5xx answer (the peer, or one of its own peers, is down or overloaded) → ``ServiceClientError`` `.unavailable`,
///   answered 503 `dependency_unavailable` by the error middleware: worth retrying;
/// - anything else outside the peer's contract → ``ServiceClientError`` `.invalidResponse`, answered 502
///   `dependency_failed`: retrying will not help.
///
/// A peer that cannot be reached or does not answer in time is already `.unavailable` (``ServiceClient``).
package enum PeerAnswer {
    /// The error for `response`, which the client did not expect from `call` (e.g. `GET /users/{id}`).
    package static func unexpected(
        _ response: ServiceClient.Response,
        from peer: StorefrontService,
        _ call: String
    ) -> ServiceClientError {
        let code: ServiceClientError.Code = response.status.code >= 500 ? .unavailable : .invalidResponse
        return ServiceClientError(code, peer: peer, detail: "answered \(call) with status \(response.status.code)")
    }

    /// The error for a 2xx answer of `call` whose body is not what the contract says.
    package static func invalid(from peer: StorefrontService, _ call: String, _ what: String) -> ServiceClientError {
        ServiceClientError(.invalidResponse, peer: peer, detail: "answered \(call) with \(what)")
    }

    /// The `error.code` of an error answer in the platform's envelope, if it has one.
    package static func errorCode(of response: ServiceClient.Response, from peer: StorefrontService) -> String? {
        guard case .string(let code)? = (try? response.decode(JSONValue.self, peer: peer))?["error"]?["code"] else {
            return nil
        }
        return code
    }
}
