import Foundation
import Hummingbird
import Logging
import MongoStore
import ServiceAuth
import ServiceKit

/// The user service's own settings.
///
/// Keys (environment variable in brackets):
/// - `bcrypt.cost` (`BCRYPT_COST`): log2 of the bcrypt rounds, 4...31; default 12.
/// - `admin.email` (`ADMIN_EMAIL`), `admin.password` (`ADMIN_PASSWORD`, secret): the admin account created at
///   startup when it does not exist; skipped (with a warning) when either is unset.
struct UserServiceSettings: Sendable {
    var bcryptCost: UInt8
    var adminEmail: String?
    var adminPassword: String?

    /// - Throws: ``ConfigurationError`` for a cost out of range, an invalid admin email or an admin password that
    ///   is not 8–72 bytes.
    init(_ runtime: ServiceRuntime) throws {
        self.bcryptCost = 12
        if let text = runtime.setting("bcrypt.cost") {
            guard let cost = UInt8(text), (4...31).contains(cost) else {
                throw ConfigurationError(key: "bcrypt.cost", value: text, expected: "an integer from 4 to 31")
            }
            self.bcryptCost = cost
        }
        let email = runtime.setting("admin.email").flatMap { $0.isEmpty ? nil : $0 }
        let password = runtime.setting("admin.password", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        if let email {
            guard let valid = try? UserController<MongoUserRepository>.validEmail(email) else {
                throw ConfigurationError(key: "admin.email", value: email, expected: "an email address")
            }
            self.adminEmail = valid
        }
        if let password {
            guard (try? UserController<MongoUserRepository>.validatePassword(password)) != nil else {
                throw ConfigurationError(key: "admin.password", value: "<secret>", expected: "8 to 72 bytes")
            }
            self.adminPassword = password
        }
    }
}

/// The user service: routes, the producer and outbox relay, and at startup the indexes, the outbox and the admin
/// account. Wiring only.
func buildApplication(_ runtime: ServiceRuntime) async throws -> some ApplicationProtocol {
    let settings = try UserServiceSettings(runtime)
    let producer = try runtime.makeProducer()
    let relay = try runtime.makeOutboxRelay(producer: producer)
    let repository = MongoUserRepository(store: runtime.store, relay: relay)
    let hasher = try await PasswordHasher(cost: settings.bcryptCost)
    let router = runtime.makeRouter()
    UserController(repository: repository, hasher: hasher, authority: runtime.authority).addRoutes(to: router)
    let logger = runtime.logger
    return runtime.makeApplication(router: router, services: [producer, relay]) {
        try await repository.prepare()
        try await AdminBootstrap.run(settings: settings, repository: repository, hasher: hasher, logger: logger)
    }
}

/// Creates the admin account at startup when it does not exist yet.
enum AdminBootstrap {
    /// Race-safe: when several instances start together, the unique email index lets exactly one insert win.
    /// - Returns: whether this call created the account.
    @discardableResult
    static func run(
        settings: UserServiceSettings,
        repository: some UserRepository,
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
