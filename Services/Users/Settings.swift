import ServiceKit

/// The user service's own settings.
///
/// Keys (environment variable in brackets):
/// - `bcrypt.cost` (`BCRYPT_COST`): log2 of the bcrypt rounds, 4...31; default 12.
/// - `admin.email` (`ADMIN_EMAIL`), `admin.password` (`ADMIN_PASSWORD`, secret): the admin account created at
///   startup when it does not exist; skipped (with a warning) when either is unset.
struct UserSettings: Sendable {
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
            guard let valid = try? UserController.validEmail(email) else {
                throw ConfigurationError(key: "admin.email", value: email, expected: "an email address")
            }
            self.adminEmail = valid
        }
        if let password {
            guard (try? UserController.validatePassword(password)) != nil else {
                throw ConfigurationError(key: "admin.password", value: "<secret>", expected: "8 to 72 bytes")
            }
            self.adminPassword = password
        }
    }
}
