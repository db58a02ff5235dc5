package import AsyncHTTPClient
import Foundation
package import HTTPTypes
import NIOCore
import NIOHTTP1

/// Calls other Storefront services over REST. Every call has a deadline (`HTTP_CLIENT_TIMEOUT_MS`), carries the
/// current request id, and authenticates with a service token unless told otherwise. Thread-safe.
package struct ServiceClient: Sendable {
    /// Which credentials a call carries.
    package enum Authorization: Sendable {
        /// A short-lived token with role `service`, minted by this service.
        case service
        /// The given bearer token (to act with the caller's own rights).
        case bearer(String)
        /// No `Authorization` header.
        case none
    }

    /// A peer's answer: any status is returned, so callers decide what a 404 or a 409 means to them.
    package struct Response: Sendable {
        package var status: HTTPResponse.Status
        package var body: [UInt8]

        /// Decodes the body as JSON.
        /// - Throws: ``ServiceClientError`` with code `.invalidResponse` when it does not decode.
        package func decode<T: Decodable>(_ type: T.Type, peer: StorefrontService) throws -> T {
            do {
                return try StorefrontJSON.decoder().decode(type, from: Data(self.body))
            } catch {
                throw ServiceClientError(.invalidResponse, peer: peer, detail: "undecodable \(T.self): \(error)")
            }
        }
    }

    private let httpClient: HTTPClient
    private let peerURLs: [StorefrontService: String]
    private let timeout: Duration
    private let tokens: ServiceTokenCache
    private let maxResponseBytes = 4 * 1024 * 1024

    package init(
        httpClient: HTTPClient = .shared,
        peerURLs: [StorefrontService: String],
        timeout: Duration,
        tokens: ServiceTokenCache
    ) {
        self.httpClient = httpClient
        self.peerURLs = peerURLs
        self.timeout = timeout
        self.tokens = tokens
    }

    /// Sends one request to `peer` and returns its answer, whatever the status.
    /// - Parameters:
    ///   - path: the path and query, e.g. `/get/123`.
    ///   - body: encoded as JSON when present.
    ///   - headers: extra request headers (e.g. `Idempotency-Key`).
    /// - Throws: ``ServiceClientError`` `.unavailable` when the peer cannot be reached or does not answer in time.
    package func send(
        _ method: HTTPRequest.Method,
        to peer: StorefrontService,
        path: String,
        body: (some Encodable & Sendable)? = Optional<Int>.none,
        authorization: Authorization = .service,
        headers: [(name: String, value: String)] = []
    ) async throws -> Response {
        var request = HTTPClientRequest(url: (self.peerURLs[peer] ?? peer.defaultURL) + path)
        request.method = NIOHTTP1.HTTPMethod(rawValue: method.rawValue)
        request.headers.add(name: "Accept", value: "application/json")
        if let id = CurrentRequest.id { request.headers.add(name: CurrentRequest.headerName.rawName, value: id) }
        switch authorization {
        case .service: request.headers.add(name: "Authorization", value: "Bearer \(try await self.tokens.token())")
        case .bearer(let token): request.headers.add(name: "Authorization", value: "Bearer \(token)")
        case .none: break
        }
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(try StorefrontJSON.encoder().encode(body))
        }
        let deadline = NIODeadline.now() + .nanoseconds(Int64(self.timeout / .nanoseconds(1)))
        do {
            let response = try await self.httpClient.execute(request, deadline: deadline)
            let bytes = try await response.body.collect(upTo: self.maxResponseBytes)
            return Response(status: .init(code: Int(response.status.code)), body: Array(buffer: bytes))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw ServiceClientError(
                .unavailable,
                peer: peer,
                detail: "\(method) \(path) timed out after \(self.timeout)"
            )
        } catch let error as ServiceClientError {
            throw error
        } catch {
            throw ServiceClientError(.unavailable, peer: peer, detail: "\(method) \(path) failed: \(error)")
        }
    }
}

/// A call to another service failed before it produced a usable answer.
package struct ServiceClientError: Error, CustomStringConvertible, Sendable {
    package enum Code: Sendable, Equatable {
        /// Not reachable, or no answer before the deadline: the peer may or may not have acted.
        case unavailable
        /// An answer that is not what the contract says.
        case invalidResponse
    }

    package let code: Code
    package let peer: StorefrontService
    /// For logs; may name hosts.
    package let detail: String

    package init(_ code: Code, peer: StorefrontService, detail: String) {
        self.code = code
        self.peer = peer
        self.detail = detail
    }

    package var description: String { "ServiceClientError(\(self.code), \(self.peer.executableName)): \(self.detail)" }
}
