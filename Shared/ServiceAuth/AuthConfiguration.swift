package import Configuration

/// Token settings shared by every service (all of them verify tokens the user service issues).
///
/// Keys (root scope):
/// - `jwt.secret` (`JWT_SECRET`, secret): the HS256 key, at least 32 bytes. Required, except with
///   `APP_ENV=development`, where a fixed, published development secret is used instead.
/// - `jwt.access.ttl.seconds` (`JWT_ACCESS_TTL_SECONDS`): access-token lifetime; default 900.
/// - `jwt.refresh.ttl.seconds` (`JWT_REFRESH_TTL_SECONDS`): refresh-token lifetime; default 604800 (7 days).
package struct AuthConfiguration: Sendable {
    /// The development secret: public knowledge, so only ever used when `APP_ENV=development`.
    package static let developmentSecret = "storefront-development-secret-not-for-production-use"

    package var secret: String
    package var accessTokenLifetime: Duration
    package var refreshTokenLifetime: Duration
    /// Whether ``secret`` is the published development secret.
    package var usesDevelopmentSecret: Bool { self.secret == Self.developmentSecret }

    package init(
        secret: String,
        accessTokenLifetime: Duration = .seconds(900),
        refreshTokenLifetime: Duration = .seconds(604_800)
    )
        throws
    {
        // jwt-kit traps on shorter HMAC keys in debug builds and silently accepts them in release builds.
        guard secret.utf8.count >= 32 else {
            throw AuthConfigurationError(description: "JWT_SECRET must be at least 32 bytes long")
        }
        self.secret = secret
        self.accessTokenLifetime = accessTokenLifetime
        self.refreshTokenLifetime = refreshTokenLifetime
    }

    /// Reads the keys listed on the type.
    /// - Parameter isDevelopment: whether `APP_ENV=development`, which allows running without `JWT_SECRET`.
    /// - Throws: ``AuthConfigurationError`` when the secret is missing (outside development) or too short, or a
    ///   lifetime is not a positive integer.
    package init(reader: ConfigReader, isDevelopment: Bool) throws {
        let configured = reader.string(forKey: "jwt.secret", isSecret: true)
        guard let secret = configured ?? (isDevelopment ? Self.developmentSecret : nil) else {
            throw AuthConfigurationError(
                description: "JWT_SECRET is not set: refusing to start (set it, or APP_ENV=development for local use)"
            )
        }
        try self.init(
            secret: secret,
            accessTokenLifetime: .seconds(try Self.seconds(reader, "jwt.access.ttl.seconds", default: 900)),
            refreshTokenLifetime: .seconds(try Self.seconds(reader, "jwt.refresh.ttl.seconds", default: 604_800))
        )
    }

    private static func seconds(_ reader: ConfigReader, _ key: ConfigKey, default defaultValue: Int) throws -> Int {
        guard let text = reader.string(forKey: key) else { return defaultValue }
        guard let value = Int(text), value > 0 else {
            throw AuthConfigurationError(description: "\(key) must be a positive number of seconds, got '\(text)'")
        }
        return value
    }
}

/// The auth configuration cannot be used; the service must not start.
package struct AuthConfigurationError: Error, CustomStringConvertible {
    package let description: String
}
