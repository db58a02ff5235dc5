import HTTPTypes
package import ServiceKit

/// The product service's routes other services call (contract §2.2), on ``ServiceClient``. Unexpected answers follow
/// ``PeerAnswer``. Thread-safe.
package struct ProductClient: Sendable {
    private let client: ServiceClient

    package init(_ client: ServiceClient) {
        self.client = client
    }

    /// `GET /get/{productId}`: the product service's answer object (`{"product": {…, "price": …}, "inventory":
    /// {…}}`), or `nil` when the product does not exist (404).
    /// - Throws: ``ServiceClientError`` `.invalidResponse` for a body that is not a JSON object.
    package func product(_ productID: String) async throws -> [String: JSONValue]? {
        let response = try await self.client.send(.get, to: .product, path: "/get/\(productID)")
        switch response.status.code {
        case 200:
            guard case .object(let object) = try? response.decode(JSONValue.self, peer: .product) else {
                throw PeerAnswer.invalid(from: .product, "GET /get/{id}", "an answer that is not a JSON object")
            }
            return object
        case 404:
            return nil
        default:
            throw PeerAnswer.unexpected(response, from: .product, "GET /get/{id}")
        }
    }

    /// The product's current price (`product.price`), or `nil` when the product does not exist.
    /// - Throws: ``ServiceClientError`` `.invalidResponse` for a product without a finite numeric price.
    package func price(_ productID: String) async throws -> Double? {
        guard let product = try await self.product(productID) else { return nil }
        guard let price = product["product"]?["price"]?.numberValue, price.isFinite else {
            throw PeerAnswer.invalid(from: .product, "GET /get/{id}", "a product without a numeric price")
        }
        return price
    }
}
