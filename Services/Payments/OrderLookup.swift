import Foundation
import Hummingbird
import ServiceKit

/// Reads an order from the order service (`GET {ORDER_URL}/order/{id}`, service token, client deadline) to check a
/// payment against it.
struct OrderLookup: Sendable {
    /// The fields of the order JSON a payment is checked against.
    struct Order: Decodable, Sendable {
        var userId: String
        var total: Double
        var status: String?
    }

    let client: ServiceClient

    /// The order, or `nil` when the order service says it does not exist.
    /// - Throws: 503 `dependency_unavailable` when the order service cannot be reached, answers in time or answers
    ///   with anything but 200/404; 502 `bad_gateway` when its 200 answer is not an order.
    func order(id: String) async throws -> Order? {
        let response = try await self.client.send(.get, to: .order, path: "/order/\(id)")
        switch response.status.code {
        case 200:
            do {
                return try response.decode(Order.self, peer: .order)
            } catch {
                throw APIError(.badGateway, code: "bad_gateway", message: "the order service gave an unusable answer")
            }
        case 404:
            return nil
        default:
            throw APIError.unavailable(
                "the order service answered \(response.status.code); try again later",
                code: "dependency_unavailable"
            )
        }
    }
}
