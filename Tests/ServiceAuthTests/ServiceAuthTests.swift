import Configuration
import Foundation
import Hummingbird
import HummingbirdTesting
import ServiceAuth
import Testing

@Suite struct ServiceAuthTests {
    static let secret = "an-auth-test-secret-that-is-32-bytes-long"

    static func authority(
        secret: String = Self.secret,
        accessLifetime: Duration = .seconds(900)
    ) async throws
        -> TokenAuthority
    {
        await TokenAuthority(configuration: try AuthConfiguration(secret: secret, accessTokenLifetime: accessLifetime))
    }

    let customer = Identity(userID: "64b000000000000000000001", email: "ann@example.com", role: .customer)

    @Test("a token carries user_id, email, role and exp, and verifies")
    func roundTrip() async throws {
        let authority = try await Self.authority()
        let token = try await authority.accessToken(for: self.customer)
        let claims = try await authority.verify(token)
        #expect(claims.identity == self.customer)
        #expect(claims.tokenType == .access)
        // The claim names clients and other services read.
        let payload = try #require(token.split(separator: ".").dropFirst().first)
        var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        let data = try #require(Data(base64Encoded: base64))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["user_id"] as? String == self.customer.userID)
        #expect(json["email"] as? String == "ann@example.com")
        #expect(json["role"] as? String == "customer")
        #expect(json["exp"] is Double || json["exp"] is Int)
    }

    @Test("expired, foreign-signed, tampered and refresh tokens are rejected as access tokens")
    func rejections() async throws {
        let authority = try await Self.authority()
        let expired = try await authority.accessToken(for: self.customer, now: Date().addingTimeInterval(-3600))
        await #expect(throws: TokenRejection.self) { try await authority.verify(expired) }

        let foreign = try await Self.authority(secret: "another-secret-that-is-also-32-bytes-long")
        let forged = try await foreign.accessToken(for: Identity(userID: "x", email: "x@x", role: .admin))
        await #expect(throws: TokenRejection.self) { try await authority.verify(forged) }

        let token = try await authority.accessToken(for: self.customer)
        var parts = token.split(separator: ".").map(String.init)
        parts[1] = String(parts[1].reversed())
        await #expect(throws: TokenRejection.self) { try await authority.verify(parts.joined(separator: ".")) }

        let refresh = try await authority.refreshToken(for: self.customer)
        await #expect(throws: TokenRejection.self) { try await authority.verify(refresh) }
        #expect(try await authority.verify(refresh, expecting: .refresh).identity == self.customer)
    }

    @Test("service tokens carry the service role and are privileged")
    func serviceTokens() async throws {
        let authority = try await Self.authority()
        let identity = try await authority.verify(try await authority.serviceToken(for: "order-service")).identity
        #expect(identity.role == .service)
        #expect(identity.userID == "service:order-service")
        #expect(identity.mayAccess(userID: "anyone"))
        #expect(self.customer.mayAccess(userID: self.customer.userID))
        #expect(!self.customer.mayAccess(userID: "someone-else"))
    }

    @Test("JWT_SECRET is required outside development and must be 32 bytes or more")
    func secretRules() throws {
        func reader(_ values: [String: String]) -> ConfigReader {
            ConfigReader(providers: [
                InMemoryProvider(
                    values: Dictionary(
                        uniqueKeysWithValues: values.map {
                            (AbsoluteConfigKey(stringLiteral: $0.key), ConfigValue(.string($0.value), isSecret: false))
                        }
                    )
                )
            ])
        }
        #expect(throws: AuthConfigurationError.self) {
            try AuthConfiguration(reader: reader([:]), isDevelopment: false)
        }
        #expect(throws: AuthConfigurationError.self) {
            try AuthConfiguration(reader: reader(["jwt.secret": "too-short"]), isDevelopment: true)
        }
        #expect(throws: AuthConfigurationError.self) {
            try AuthConfiguration(
                reader: reader(["jwt.secret": Self.secret, "jwt.access.ttl.seconds": "-5"]),
                isDevelopment: false
            )
        }
        let development = try AuthConfiguration(reader: reader([:]), isDevelopment: true)
        #expect(development.usesDevelopmentSecret)
        let configured = try AuthConfiguration(
            reader: reader(["jwt.secret": Self.secret, "jwt.access.ttl.seconds": "60"]),
            isDevelopment: false
        )
        #expect(!configured.usesDevelopmentSecret)
        #expect(configured.accessTokenLifetime == .seconds(60))
    }

    struct Context: AuthenticatedRequestContext {
        var coreContext: CoreRequestContextStorage
        var identity: Identity?
        var authFailure: AuthError?
        init(source: ApplicationRequestContextSource) {
            self.coreContext = .init(source: source)
            self.identity = nil
        }
    }

    @Test("the authenticator exposes the identity; owners, admins and services pass, others get 403")
    func middleware() async throws {
        let authority = try await Self.authority()
        let router = Router(context: Context.self)
        router.add(middleware: JWTAuthenticator(authority: authority))
        router.get("/users/:id") { _, context -> String in
            let id = try context.parameters.require("id")
            return try context.requireAccess(toUser: id).userID
        }
        router.get("/admin") { _, context -> String in try context.requireRole(.admin).email }
        router.get("/open") { _, context -> String in context.identity?.userID ?? "anonymous" }
        let admin = try await authority.accessToken(for: Identity(userID: "a", email: "root@example.com", role: .admin))
        let own = try await authority.accessToken(for: self.customer)
        let service = try await authority.serviceToken(for: "cart-service")

        try await Application(router: router).test(.router) { client in
            func status(_ path: String, _ token: String?) async throws -> HTTPResponse.Status {
                var headers: HTTPFields = [:]
                if let token { headers[.authorization] = "Bearer \(token)" }
                return try await client.execute(uri: path, method: .get, headers: headers) { $0.status }
            }
            #expect(try await status("/users/\(self.customer.userID)", own) == .ok)
            #expect(try await status("/users/someone-else", own) == .forbidden)
            #expect(try await status("/users/someone-else", admin) == .ok)
            #expect(try await status("/users/someone-else", service) == .ok)
            #expect(try await status("/users/someone-else", nil) == .unauthorized)
            #expect(try await status("/users/someone-else", "not-a-jwt") == .unauthorized)
            #expect(try await status("/admin", own) == .forbidden)
            #expect(try await status("/admin", admin) == .ok)
            let basic = try await client.execute(uri: "/admin", method: .get, headers: [.authorization: "Basic abc"]) {
                $0.status
            }
            #expect(basic == .unauthorized)
            // A route that needs no caller serves a bad or foreign header as anonymous.
            #expect(try await status("/open", "not-a-jwt") == .ok)
            let open = try await client.execute(uri: "/open", method: .get, headers: [.authorization: "Basic abc"]) {
                String(buffer: $0.body)
            }
            #expect(open == "anonymous")
        }
    }
}
