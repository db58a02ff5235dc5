import Foundation
import Hummingbird
import Logging
import ServiceKit

/// The product service's calls to the inventory service (contract §2.3 plus its `DELETE /delete/{productId}`),
/// through ``ServiceClient``: deadline `HTTP_CLIENT_TIMEOUT_MS`, the request id, a service token. An unreachable or
/// timed-out peer throws `ServiceClientError(.unavailable)`, which the error middleware answers with 503
/// `dependency_unavailable`. Thread-safe.
struct InventoryClient: Sendable {
    let client: ServiceClient
    let logger: Logger

    private struct CreateRequest: Encodable, Sendable {
        var productId: String
        var inventory: Int64
    }

    /// `POST /create {productId, inventory}`: the stock record exists afterwards (201 created, or 200 when it already
    /// existed: the call is idempotent by product id).
    /// - Throws: `ServiceClientError` `.unavailable`; ``APIError`` 503 `dependency_unavailable` for a 5xx answer,
    ///   502 `dependency_failed` for any other unexpected answer.
    func create(productID: String, stock: Int64) async throws {
        let response = try await self.client.send(
            .post,
            to: .inventory,
            path: "/create",
            body: CreateRequest(productId: productID, inventory: stock)
        )
        switch response.status.code {
        case 200, 201: return
        default: throw Self.unexpected(response, "POST /create")
        }
    }

    /// `GET /get/{productId}`: the stock record as the inventory service wrote it (a JSON object with a numeric
    /// `inventory`), or `nil` when it has none (404).
    /// - Throws: as ``create(productID:stock:)``; 502 also for a body that is not such an object.
    func record(productID: String) async throws -> JSONValue? {
        let response = try await self.client.send(.get, to: .inventory, path: "/get/\(productID)")
        switch response.status.code {
        case 200:
            guard let record = try? response.decode(JSONValue.self, peer: .inventory),
                record["inventory"]?.numberValue != nil
            else {
                throw APIError(
                    .badGateway,
                    code: "dependency_failed",
                    message: "inventory-service answered without a numeric inventory"
                )
            }
            return record
        case 404: return nil
        default: throw Self.unexpected(response, "GET /get")
        }
    }

    enum DeleteOutcome: Sendable, Equatable {
        /// The record was deleted.
        case deleted
        /// There was no record.
        case notFound
        /// Units are reserved (pending orders): the record, and so the product, must stay.
        case pendingReservations
    }

    /// `DELETE /delete/{productId}`.
    /// - Throws: as ``create(productID:stock:)``.
    func delete(productID: String) async throws -> DeleteOutcome {
        let response = try await self.client.send(.delete, to: .inventory, path: "/delete/\(productID)")
        switch response.status.code {
        case 200, 204: return .deleted
        case 404: return .notFound
        case 409: return .pendingReservations
        default: throw Self.unexpected(response, "DELETE /delete")
        }
    }

    private static func unexpected(_ response: ServiceClient.Response, _ call: String) -> APIError {
        if response.status.code >= 500 {
            return APIError.unavailable(
                "inventory-service answered \(call) with status \(response.status.code)",
                code: "dependency_unavailable"
            )
        }
        return APIError(
            .badGateway,
            code: "dependency_failed",
            message: "inventory-service answered \(call) with status \(response.status.code)"
        )
    }
}
