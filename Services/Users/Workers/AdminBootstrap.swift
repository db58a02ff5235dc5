import Foundation
import Logging
import MongoStore
import ServiceAuth

/// Creates the admin account at startup when it does not exist yet.
enum AdminBootstrap {
    /// Race-safe: when several instances start together, the unique email index lets exactly one insert win.
    /// - Returns: whether this call created the account.
    @discardableResult
    static func run(
        settings: UserSettings,
        repository: UserRepository,
        hasher: PasswordHasher,
        logger: Logger
    ) async throws -> Bool {
        guard let email = settings.adminEmail, let password = settings.adminPassword else {
            logger.warning("ADMIN_EMAIL or ADMIN_PASSWORD is not set: no admin account is created")
            return false
        }
        if try await repository.find(email: email) != nil { return false }
        let now = Date()
        let admin = User(
            name: "Administrator",
            email: email,
            phone: 0,
            password: try await hasher.hash(password),
            role: .admin,
            createdAt: now,
            updatedAt: now
        )
        do {
            try await repository.create(admin)
        } catch {
            // Another instance won: the unique index rejected this insert (duplicate key on MongoDB; on the dev store,
            // whose concurrent transactions are not isolated, possibly another store error). Either way the account
            // exists now.
            if try await repository.find(email: email) != nil { return false }
            throw error
        }
        logger.info("admin account created", metadata: ["user.id": "\(admin.id.hex)"])
        return true
    }
}
