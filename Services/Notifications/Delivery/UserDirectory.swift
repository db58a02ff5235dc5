import Foundation
import Hummingbird
import Logging
import ServiceKit

/// Finds a user's e-mail address through the user service: `GET {USER_URL}/users/{userId}` with a service token
/// (deadline `HTTP_CLIENT_TIMEOUT_MS`).
struct UserDirectory: Sendable {
    enum Lookup: Sendable, Equatable {
        case found(email: String)
        /// 404: the user does not exist (any more).
        case notFound
    }

    /// Something other than a usable answer or a 404: worth retrying later.
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    let client: ServiceClient

    /// - Throws: ``Unavailable`` (or `ServiceClientError`) when the user service cannot say.
    func email(of userID: String) async throws -> Lookup {
        struct User: Decodable { var email: String? }
        let response = try await self.client.send(.get, to: .user, path: "/users/\(userID)")
        switch response.status.code {
        case 200:
            guard let email = try? response.decode(User.self, peer: .user).email, email.contains("@") else {
                throw Unavailable(description: "user-service answered GET /users/\(userID) without an email")
            }
            return .found(email: email)
        case 404:
            return .notFound
        default:
            throw Unavailable(description: "user-service answered GET /users/\(userID) with \(response.status.code)")
        }
    }
}
