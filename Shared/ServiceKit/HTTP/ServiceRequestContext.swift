package import Foundation
package import Hummingbird
package import ServiceAuth

/// The request context of every service: Hummingbird's core storage plus the caller's identity, with the platform's
/// JSON conventions (``StorefrontJSON``) for bodies in and out.
package struct ServiceRequestContext: AuthenticatedRequestContext {
    package var coreContext: CoreRequestContextStorage
    package var identity: Identity?
    package var authFailure: AuthError?

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.identity = nil
        self.authFailure = nil
    }

    package var requestDecoder: JSONDecoder { StorefrontJSON.decoder() }
    package var responseEncoder: JSONEncoder { StorefrontJSON.encoder() }
}
