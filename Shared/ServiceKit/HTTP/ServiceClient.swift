package import AsyncHTTPClient
import Foundation
package import HTTPTypes
package import Metrics
import NIOCore
import NIOHTTP1
import Tracing

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
        /// The response headers, names lower-cased (the last value of a repeated one).
        package var headers: [String: String] = [:]

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
    private let metrics: any MetricsFactory
    private let maxResponseBytes = 4 * 1024 * 1024

    /// - Parameter metrics: where `storefront_peer_requests_total{peer,method,status}` and
    ///   `storefront_peer_request_duration_seconds{peer}` go (`status` is the HTTP code, or `unavailable`).
    package init(
        httpClient: HTTPClient = .shared,
        peerURLs: [StorefrontService: String],
        timeout: Duration,
        tokens: ServiceTokenCache,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.httpClient = httpClient
        self.peerURLs = peerURLs
        self.timeout = timeout
        self.tokens = tokens
        self.metrics = metrics
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
        let started = ContinuousClock.now
        var status = "unavailable"
        defer { self.record(peer, method, status: status, since: started) }
        do {
            let response: Response
            if TraceContext.isEnabled {
                // A client span; its context travels in `traceparent`.
                response = try await withSpan("\(method) \(peer.executableName)", ofKind: .client) { span in
                    TraceContext.inject(into: &request.headers)
                    let response = try await self.exchange(request, deadline: deadline)
                    span.attributes["http.response.status_code"] = response.status.code
                    return response
                }
            } else {
                response = try await self.exchange(request, deadline: deadline)
            }
            status = String(response.status.code)
            return response
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

    /// Sends `request` and reads the whole answer (at most `maxResponseBytes`).
    private func exchange(_ request: HTTPClientRequest, deadline: NIODeadline) async throws -> Response {
        let response = try await self.httpClient.execute(request, deadline: deadline)
        let bytes = try await response.body.collect(upTo: self.maxResponseBytes)
        return Response(
            status: .init(code: Int(response.status.code)),
            body: Array(buffer: bytes),
            headers: Dictionary(response.headers.map { ($0.name.lowercased(), $0.value) }) { $1 }
        )
    }

    private func record(
        _ peer: StorefrontService,
        _ method: HTTPRequest.Method,
        status: String,
        since: ContinuousClock.Instant
    ) {
        let name = peer.executableName
        Counter(
            label: "storefront_peer_requests_total",
            dimensions: [("peer", name), ("method", method.rawValue), ("status", status)],
            factory: self.metrics
        ).increment()
        Timer(
            label: "storefront_peer_request_duration_seconds",
            dimensions: [("peer", name)],
            preferredDisplayUnit: .seconds,
            factory: self.metrics
        ).recordNanoseconds(Int64((ContinuousClock.now - since) / .nanoseconds(1)))
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
