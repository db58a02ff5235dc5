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

        package init(productId: String, quantity: Int) {
            self.productId = productId
            self.quantity = quantity
        }
    }

    private let client: ServiceClient

    package init(_ client: ServiceClient) {
        self.client = client
    }

    /// What `POST /checkout/{userId}` answered.
    package enum Checkout: Sendable, Equatable {
        /// The lines now held for the order.
        case checkedOut([Line])
        /// 409 `checkout_in_progress`: the lines are already held for the pending order `orderId`.
        case inProgress(orderId: String)
        /// 400 `cart_empty`: nothing to order.
        case empty
    }

    /// `POST /checkout/{userId}` `{orderId}`: checks the user's cart out for the order (atomic on the cart; a repeat
    /// for the same order answers the same lines, so it is safe to retry).
    /// - Throws: ``ServiceClientError`` `.unavailable` when the cart service cannot do it now, `.invalidResponse` for
    ///   an answer outside its contract.
    package func checkout(userID: String, orderID: String) async throws -> Checkout {
        let call = "POST /checkout/{userId}"
        let response = try await self.client.send(
            .post,
            to: .cart,
            path: "/checkout/\(userID)",
            body: ["orderId": orderID]
        )
        switch response.status.code {
        case 200: break
        case 400 where PeerAnswer.errorCode(of: response, from: .cart) == "cart_empty": return .empty
        case 409 where PeerAnswer.errorCode(of: response, from: .cart) == "checkout_in_progress":
            let answer = try response.decode(JSONValue.self, peer: .cart)
            guard case .string(let pending)? = answer["error"]?["orderId"], MongoObjectID(pending) != nil else {
                throw PeerAnswer.invalid(from: .cart, call, "a checkout_in_progress without the pending orderId")
            }
            return .inProgress(orderId: pending.lowercased())
        default: throw PeerAnswer.unexpected(response, from: .cart, call)
        }
        guard case .array(let elements)? = try response.decode(JSONValue.self, peer: .cart)["items"] else {
            throw PeerAnswer.invalid(from: .cart, call, "an answer without items")
        }
        return .checkedOut(
            try elements.map { element in
                guard case .string(let productID)? = element["productId"], MongoObjectID(productID) != nil,
                    let quantity = element["quantity"]?.numberValue, quantity >= 1, quantity <= 1_000_000,
                    quantity == quantity.rounded()
                else { throw PeerAnswer.invalid(from: .cart, call, "a line without a valid productId and quantity") }
                return Line(productId: productID.lowercased(), quantity: Int(quantity))
            }
        )
    }
}
