import HTTPTypes
import MongoStore
package import ServiceKit

/// The cart service's routes other services call (contract §2.4), on ``ServiceClient``. Unexpected answers follow
/// ``PeerAnswer``. Thread-safe.
package struct CartClient: Sendable {
    /// One line of a cart.
    package struct Line: Sendable, Equatable {
        /// Lower-cased 24-hex product id.
        package var productId: String
        package var quantity: Int
    }

    private let client: ServiceClient

    package init(_ client: ServiceClient) {
        self.client = client
    }

    /// `GET /user/{userId}`: the cart's lines; `[]` when the user has no cart (404).
    /// - Throws: ``ServiceClientError`` `.invalidResponse` for a line without a valid product id and quantity.
    package func lines(of userID: String) async throws -> [Line] {
        let call = "GET /user/{userId}"
        let response = try await self.client.send(.get, to: .cart, path: "/user/\(userID)")
        switch response.status.code {
        case 200: break
        case 404: return []
        default: throw PeerAnswer.unexpected(response, from: .cart, call)
        }
        guard case .array(let elements) = try response.decode(JSONValue.self, peer: .cart) else {
            throw PeerAnswer.invalid(from: .cart, call, "an answer that is not an array")
        }
        return try elements.map { element in
            guard case .string(let productID)? = element["productId"], MongoObjectID(productID) != nil,
                let quantity = element["quantity"]?.numberValue, quantity >= 1, quantity <= 1_000_000,
                quantity == quantity.rounded()
            else { throw PeerAnswer.invalid(from: .cart, call, "a cart line without a valid productId and quantity") }
            return Line(productId: productID.lowercased(), quantity: Int(quantity))
        }
    }

    /// `DELETE /delete/{userId}`: empties the user's cart; a user without a cart (404) is already done.
    package func clear(_ userID: String) async throws {
        let response = try await self.client.send(.delete, to: .cart, path: "/delete/\(userID)")
        guard (200..<300).contains(response.status.code) || response.status.code == 404 else {
            throw PeerAnswer.unexpected(response, from: .cart, "DELETE /delete/{userId}")
        }
    }
}
