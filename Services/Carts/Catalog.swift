import Foundation
import Hummingbird
import Logging
import ServiceKit

/// The cart service's view of the product and inventory services: whether a product exists (and its current JSON,
/// with its price) and how many units are available for sale. Every call goes through ``ServiceClient`` (deadline
/// `HTTP_CLIENT_TIMEOUT_MS`, request id, service token); an unreachable peer throws `ServiceClientError(.unavailable)`,
/// which the error middleware answers with 503 `dependency_unavailable`: never a silent pass. Thread-safe.
struct Catalog: Sendable {
    let client: ServiceClient
    let logger: Logger

    /// `GET {PRODUCT_URL}/get/{productID}`: the product service's answer object (contract §2.2:
    /// `{"product": {…, "price": …}, "inventory": {…}}`), or `nil` when it answers 404.
    /// - Throws: `ServiceClientError` `.unavailable` when unreachable; ``APIError`` 502 `dependency_failed` for any
    ///   other status or a body that is not a JSON object.
    func product(_ productID: String) async throws -> [String: JSONValue]? {
        let response = try await self.client.send(.get, to: .product, path: "/get/\(productID)")
        switch response.status {
        case .ok:
            guard case .object(let object) = try? response.decode(JSONValue.self, peer: .product) else {
                throw Self.failed(.product, "an answer that is not a JSON object")
            }
            return object
        case .notFound:
            return nil
        default:
            throw Self.failed(.product, "status \(response.status.code)")
        }
    }

    /// `GET {INVENTORY_URL}/get/{productID}`: the inventory JSON (contract §2.3, a top-level numeric `inventory`),
    /// or `nil` when the inventory service has no record for the product (404).
    /// - Throws: as ``product(_:)``.
    func inventory(_ productID: String) async throws -> [String: JSONValue]? {
        let response = try await self.client.send(.get, to: .inventory, path: "/get/\(productID)")
        switch response.status {
        case .ok:
            guard case .object(let object) = try? response.decode(JSONValue.self, peer: .inventory),
                object["inventory"]?.numberValue != nil
            else {
                throw Self.failed(.inventory, "an answer without a numeric inventory")
            }
            return object
        case .notFound:
            return nil
        default:
            throw Self.failed(.inventory, "status \(response.status.code)")
        }
    }

    /// How many units of `productID` are available for sale: the inventory service's `inventory`, 0 when it has no
    /// record for the product (never negative).
    func available(_ productID: String) async throws -> Int {
        guard let stock = try await self.inventory(productID)?["inventory"]?.numberValue else { return 0 }
        return Int(min(max(0, stock), 1e15).rounded(.down))
    }

    private static func failed(_ peer: StorefrontService, _ what: String) -> APIError {
        APIError(.badGateway, code: "dependency_failed", message: "\(peer.executableName) answered with \(what)")
    }
}
