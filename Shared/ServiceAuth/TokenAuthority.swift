package import Foundation
import JWTKit

/// Issues and verifies HS256 tokens. Thread-safe (jwt-kit's key collection is an actor).
package struct TokenAuthority: Sendable {
    package let configuration: AuthConfiguration
    private let keys: JWTKeyCollection

    package init(configuration: AuthConfiguration) async {
        self.configuration = configuration
        self.keys = JWTKeyCollection()
        await self.keys.add(hmac: HMACKey(from: configuration.secret), digestAlgorithm: .sha256)
    }

    /// A signed access token for `identity`, valid for the configured access lifetime (or `lifetime`).
    package func accessToken(
        for identity: Identity,
        lifetime: Duration? = nil,
        now: Date = Date()
    ) async throws -> String {
        try await self.keys.sign(
            AccessClaims(
                identity: identity,
                issuedAt: now,
                lifetime: lifetime ?? self.configuration.accessTokenLifetime,
                tokenType: .access
            )
        )
    }

    /// A signed refresh token for `identity`, valid for the configured refresh lifetime.
    package func refreshToken(for identity: Identity, now: Date = Date()) async throws -> String {
        try await self.keys.sign(
            AccessClaims(
                identity: identity,
                issuedAt: now,
                lifetime: self.configuration.refreshTokenLifetime,
                tokenType: .refresh
            )
        )
    }

    /// A short-lived token with role `service`, which another service accepts as privileged.
    /// - Parameter service: the calling service's name, recorded as the token's user id (`service:<name>`).
    package func serviceToken(for service: String, lifetime: Duration = .seconds(300)) async throws -> String {
        try await self.accessToken(
            for: Identity(
                userID: "service:\(service)",
                email: "\(service)@services.storefront.internal",
                role: .service
            ),
            lifetime: lifetime
        )
    }

    /// Verifies signature, expiry and token type, and returns the claims.
    /// - Throws: ``TokenRejection`` for any token that must not be accepted (the reason is for logs only).
    package func verify(_ token: String, expecting type: AccessClaims.TokenType = .access) async throws -> AccessClaims
    {
        let claims: AccessClaims
        do {
            claims = try await self.keys.verify(token, as: AccessClaims.self)
        } catch {
            throw TokenRejection(reason: "\(error)")
        }
        guard claims.tokenType == type else {
            throw TokenRejection(reason: "a \(claims.tokenType.rawValue) token was used as \(type.rawValue) token")
        }
        return claims
    }
}

/// A token that failed verification. Callers answer 401 without repeating ``reason`` to the client.
package struct TokenRejection: Error, CustomStringConvertible {
    package let reason: String
    package var description: String { "token rejected: \(self.reason)" }
}
