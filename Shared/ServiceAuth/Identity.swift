/// What a caller may do. Carried in every token's `role` claim.
package enum Role: String, Codable, Sendable, CaseIterable {
    /// A shopper: acts on its own account, cart, orders and payments only.
    case customer
    /// An operator: may act on any account and change roles and the catalog.
    case admin
    /// Another Storefront service calling on the platform's behalf (service-to-service tokens).
    case service
}

/// The authenticated caller of a request, taken from a verified access token.
package struct Identity: Sendable, Equatable {
    package var userID: String
    package var email: String
    package var role: Role

    package init(userID: String, email: String, role: Role) {
        self.userID = userID
        self.email = email
        self.role = role
    }

    /// Admins and services act on any account.
    package var isPrivileged: Bool { self.role == .admin || self.role == .service }

    /// Whether this caller may read or change what belongs to `userID`: its owner, an admin or a service.
    package func mayAccess(userID: String) -> Bool {
        self.isPrivileged || self.userID == userID
    }
}
