import HTTPTypes
package import ServiceKit

/// The order service's routes other services call (contract §2.5), on ``ServiceClient``. Unexpected answers follow
/// ``PeerAnswer``. Thread-safe.
package struct OrderClient: Sendable {
    /// The fields of the order JSON another service checks against.
    package struct Order: Decodable, Sendable, Equatable {
        package var userId: String
        package var total: Double
        package var status: String?
    }

    private let client: ServiceClient

    package init(_ client: ServiceClient) {
        self.client = client
    }

    /// `GET /order/{id}`: the order, or `nil` when it does not exist (404).
    package func order(id: String) async throws -> Order? {
        let response = try await self.client.send(.get, to: .order, path: "/order/\(id)")
        switch response.status.code {
        case 200: return try response.decode(Order.self, peer: .order)
        case 404: return nil
        default: throw PeerAnswer.unexpected(response, from: .order, "GET /order/{id}")
        }
    }
}
