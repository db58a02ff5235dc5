package import Foundation
package import JWTKit

/// The payload of every Storefront token: `user_id`, `email`, `role`, `exp`, plus `iat` and `token_type`
/// (`access` or `refresh`, so a refresh token is never accepted where an access token is required).
package struct AccessClaims: JWTPayload, Equatable {
    package enum TokenType: String, Codable, Sendable {
        case access
        case refresh
    }

    package var userID: String
    package var email: String
    package var role: Role
    package var expiresAt: ExpirationClaim
    package var issuedAt: IssuedAtClaim
    package var tokenType: TokenType

    package init(identity: Identity, issuedAt: Date, lifetime: Duration, tokenType: TokenType) {
        self.userID = identity.userID
        self.email = identity.email
        self.role = identity.role
        self.issuedAt = IssuedAtClaim(value: issuedAt)
        self.expiresAt = ExpirationClaim(value: issuedAt.addingTimeInterval(Double(lifetime.components.seconds)))
        self.tokenType = tokenType
    }

    package var identity: Identity { Identity(userID: self.userID, email: self.email, role: self.role) }

    /// Called by jwt-kit after the signature checked out: the token must not have expired.
    package func verify(using algorithm: some JWTAlgorithm) async throws {
        try self.expiresAt.verifyNotExpired()
    }

    private enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case email, role
        case expiresAt = "exp"
        case issuedAt = "iat"
        case tokenType = "token_type"
    }
}
