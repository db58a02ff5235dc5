package import Hummingbird
import Logging

/// A request context that carries the caller's identity once ``JWTAuthenticator`` has verified it.
package protocol AuthenticatedRequestContext: RequestContext {
    var identity: Identity? { get set }
    /// Why the request's credentials were refused, when it carried a bad `Authorization` header: what a route that
    /// needs a caller answers instead of the generic "needs a bearer token".
    var authFailure: AuthError? { get set }
}

extension AuthenticatedRequestContext {
    /// The caller, or a 401 error when the request carried no valid token.
    package func requireIdentity() throws -> Identity {
        guard let identity = self.identity else { throw self.authFailure ?? AuthError.unauthenticated }
        return identity
    }

    /// The caller, when it may act on `userID`'s data (owner, admin or service); 401 or 403 otherwise.
    package func requireAccess(toUser userID: String) throws -> Identity {
        let identity = try self.requireIdentity()
        guard identity.mayAccess(userID: userID) else { throw AuthError.forbidden }
        return identity
    }

    /// The caller, when it has one of `roles`; 401 or 403 otherwise.
    package func requireRole(_ roles: Role...) throws -> Identity {
        let identity = try self.requireIdentity()
        guard roles.contains(identity.role) else { throw AuthError.forbidden }
        return identity
    }
}

/// Verifies the `Authorization: Bearer <token>` header and puts the caller's identity into the context.
///
/// A request without the header passes through with no identity (public routes such as `/login` need that);
/// ``RequireAuthenticationMiddleware`` or `context.requireIdentity()` then rejects it where a caller is required.
/// A header that is present but malformed, badly signed, expired or a refresh token passes through the same way,
/// with the reason in `authFailure`: a route that needs a caller answers 401 with it (`invalid_token`), and a public
/// route serves the request as anonymous. So a client that still sends an expired token can log in, refresh and
/// browse the catalog, as with the original, whose public routes ignored the header.
package struct JWTAuthenticator<Context: AuthenticatedRequestContext>: RouterMiddleware {
    private let authority: TokenAuthority

    package init(authority: TokenAuthority) {
        self.authority = authority
    }

    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            return try await next(request, context)
        }
        var context = context
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            context.authFailure = .malformedHeader
            return try await next(request, context)
        }
        let claims: AccessClaims
        do {
            claims = try await self.authority.verify(String(parts[1]))
        } catch let rejection as TokenRejection {
            context.logger.info("token rejected", metadata: ["auth.reason": "\(rejection.reason)"])
            context.authFailure = .invalidToken
            return try await next(request, context)
        }
        context.identity = claims.identity
        context.logger[metadataKey: "auth.user_id"] = "\(claims.userID)"
        return try await next(request, context)
    }
}

/// Rejects requests that carry no verified identity (401). Put it on every route group that is not public.
package struct RequireAuthenticationMiddleware<Context: AuthenticatedRequestContext>: RouterMiddleware {
    package init() {}

    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        _ = try context.requireIdentity()
        return try await next(request, context)
    }
}

/// Authentication and authorisation failures, with the status and the client-facing message each one gets.
/// ServiceKit's error middleware renders them in the platform's JSON envelope; on their own they answer like
/// Hummingbird's `HTTPError`.
package struct AuthError: Error, HTTPResponseError, Equatable, Sendable {
    package let status: HTTPResponse.Status
    package let code: String
    package let message: String

    package var headers: HTTPFields {
        self.status == .unauthorized ? [.wwwAuthenticate: "Bearer"] : [:]
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        try HTTPError(self.status, headers: self.headers, message: self.message).response(
            from: request,
            context: context
        )
    }

    package static let unauthenticated = AuthError(
        status: .unauthorized,
        code: "unauthenticated",
        message: "this route needs a bearer token"
    )
    package static let malformedHeader = AuthError(
        status: .unauthorized,
        code: "unauthenticated",
        message: "the Authorization header must be 'Bearer <token>'"
    )
    package static let invalidToken = AuthError(
        status: .unauthorized,
        code: "invalid_token",
        message: "the token is invalid or expired"
    )
    package static let forbidden = AuthError(
        status: .forbidden,
        code: "forbidden",
        message: "you may not act on this resource"
    )
}
