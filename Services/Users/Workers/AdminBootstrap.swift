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
        if try await repository.find(email: email) != nil { return false }  // the usual case: hash nothing
        let hashed = try await hasher.hash(password)
        for attempt in 1...Self.attempts {
            if attempt > 1, try await repository.find(email: email) != nil { return false }
            let now = Date()
            let admin = User(
                name: "Administrator",
                email: email,
                phone: 0,
                password: hashed,
                role: .admin,
                createdAt: now,
                updatedAt: now
            )
            do {
                try await repository.create(admin)
                logger.info("admin account created", metadata: ["user.id": "\(admin.id.hex)"])
                return true
            } catch {
                // Another instance won: the unique index rejected this insert, and the account exists now. On the dev
                // store, whose concurrent transactions are not isolated (dev-store gap 13), both inserts can fail and
                // neither remain: then try again, after a pause that differs per attempt.
                if try await repository.find(email: email) != nil { return false }
                guard attempt < Self.attempts else { throw error }
                logger.warning("admin account not created; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...250) * attempt))
            }
        }
        return false
    }

    /// How often the creation is tried when it fails without another instance's account appearing.
    static let attempts = 5
}
