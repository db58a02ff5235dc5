import Foundation
package import ServiceAuth

/// Keeps this service's own service-to-service token and mints a new one before it expires.
package actor ServiceTokenCache {
    private let authority: TokenAuthority
    private let service: StorefrontService
    private let lifetime: Duration = .seconds(300)
    private var current: (token: String, renewAfter: Date)?

    package init(authority: TokenAuthority, service: StorefrontService) {
        self.authority = authority
        self.service = service
    }

    /// A token valid for at least another minute.
    package func token() async throws -> String {
        if let current, current.renewAfter > Date() { return current.token }
        let token = try await self.authority.serviceToken(for: self.service.executableName, lifetime: self.lifetime)
        self.current = (token, Date().addingTimeInterval(Double(self.lifetime.components.seconds) - 60))
        return token
    }
}
