import HTTPTypes
package import ServiceKit

/// The user service's routes other services call (contract §2.1), on ``ServiceClient``: a service token, the request
/// id, the `HTTP_CLIENT_TIMEOUT_MS` deadline. Unexpected answers follow ``PeerAnswer``. Thread-safe.
package struct UserClient: Sendable {
    private let client: ServiceClient

    package init(_ client: ServiceClient) {
        self.client = client
    }

    /// `GET /users/{id}`: exactly 200 means the user exists (contract §11.2), 404 that it does not.
    package func exists(_ userID: String) async throws -> Bool {
        let response = try await self.client.send(.get, to: .user, path: "/users/\(userID)")
        switch response.status.code {
        case 200: return true
        case 404: return false
        default: throw PeerAnswer.unexpected(response, from: .user, "GET /users/{id}")
        }
    }

    /// `GET /users/{id}`: the user's e-mail address, or `nil` when the user does not exist (any more).
    /// - Throws: ``ServiceClientError`` also when the user has no usable address (`.invalidResponse`).
    package func email(of userID: String) async throws -> String? {
        struct User: Decodable { var email: String? }
        let response = try await self.client.send(.get, to: .user, path: "/users/\(userID)")
        switch response.status.code {
        case 200:
            guard let email = try? response.decode(User.self, peer: .user).email, email.contains("@") else {
                throw PeerAnswer.invalid(from: .user, "GET /users/{id}", "a user without an email")
            }
            return email
        case 404:
            return nil
        default:
            throw PeerAnswer.unexpected(response, from: .user, "GET /users/{id}")
        }
    }
}
