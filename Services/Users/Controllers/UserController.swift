import Foundation
import Hummingbird
import MongoStore
import ServiceAuth
import ServiceKit

/// The user service's routes: `POST /register`, `/login`, `/refresh` (public); `GET /users` (admin),
/// `GET|PUT|PATCH|DELETE /users/{id}` (the account's owner, an admin or a service), `GET /me`.
struct UserController: Sendable {
    let repository: UserRepository
    let hasher: PasswordHasher
    let authority: TokenAuthority

    func addRoutes(to router: ServiceRouter<ServiceRequestContext>) {
        router.public.post("/register", use: self.register)
        router.public.post("/login", use: self.login)
        router.public.post("/refresh", use: self.refresh)
        let protected = router.protected
        protected.get("/users", use: self.list)
        protected.get("/users/:id", use: self.show)
        protected.put("/users/:id", use: self.update)
        protected.patch("/users/:id", use: self.update)
        protected.delete("/users/:id", use: self.delete)
        protected.get("/me", use: self.me)
    }

    // MARK: Request and response bodies

    struct RegisterRequest: Decodable {
        var name: String
        var email: String
        var password: String
        var phone: Int64?
    }

    struct LoginRequest: Decodable {
        var email: String
        var password: String
    }

    struct RefreshRequest: Decodable {
        var refreshToken: String
    }

    struct UpdateRequest: Decodable {
        var name: String?
        var email: String?
        var phone: Int64?
        var password: String?
        var currentPassword: String?
        var role: Role?
    }

    /// A user as clients see it: the original's fields and key names, plus `role`, never the hash.
    struct UserResponse: ResponseEncodable, Equatable {
        var message: String?
        var id: String
        var name: String
        var email: String
        var phone: Int64
        var role: Role
        var createdAt: Date
        var updatedAt: Date

        init(_ user: User, message: String? = nil) {
            self.message = message
            self.id = user.id.hex
            self.name = user.name
            self.email = user.email
            self.phone = user.phone
            self.role = user.role
            self.createdAt = user.createdAt
            self.updatedAt = user.updatedAt
        }

        enum CodingKeys: String, CodingKey {
            case message
            case id = "_id"
            case name, email, phone, role
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }
    }

    /// Login and refresh answer: the access token as `token` and, for the original's clients, `Token`.
    struct TokenResponse: ResponseEncodable, Equatable {
        var token: String
        var Token: String
        var refreshToken: String?
        var tokenType: String
        var expiresIn: Int64
    }

    struct DeleteResponse: ResponseEncodable, Equatable {
        var message: String
        var deleted: Int
    }

    // MARK: Handlers

    /// `POST /register {name, email, password, phone?}` → 201 with the user. Validates before any side effect,
    /// hashes off the event loop, and inserts the user and its `user-created` event in one transaction.
    /// - Throws: 400 `validation_failed`, 409 `email_taken` (in any letter case).
    @Sendable func register(
        request: Request,
        context: ServiceRequestContext
    ) async throws -> EditedResponse<UserResponse> {
        let body = try await request.decode(as: RegisterRequest.self, context: context)
        let name = try Self.validName(body.name)
        let email = try Self.validEmail(body.email)
        try Self.validatePassword(body.password)
        let phone = try Self.validPhone(body.phone ?? 0)
        let now = Date()
        let user = User(
            name: name,
            email: email,
            phone: phone,
            password: try await self.hasher.hash(body.password),
            role: .customer,
            createdAt: now,
            updatedAt: now
        )
        do {
            try await self.repository.create(user)
        } catch let error as MongoStoreError where error.code == .duplicateKey {
            throw Self.emailTaken
        } catch let error as MongoStoreError where error.code == .server {
            // On the dev store, concurrent transactions are not isolated: one can fail with another server error
            // while its writes remain (docs/dev-store-gaps.md, gap 13). The outcome is then read back: our own user
            // means the registration happened, another one means the email was taken.
            guard let stored = try await self.repository.find(email: email) else { throw error }
            guard stored.id == user.id else { throw Self.emailTaken }
        }
        return EditedResponse(status: .created, response: UserResponse(user, message: "User registered successfully"))
    }

    /// `POST /login {email, password}` → 200 with an access token (`token` and `Token`) and a refresh token.
    /// - Throws: 401 `invalid_credentials`, the same for an unknown email and a wrong password (and taking the same
    ///   time: an unknown email is checked against a dummy hash).
    @Sendable func login(request: Request, context: ServiceRequestContext) async throws -> TokenResponse {
        let body = try await request.decode(as: LoginRequest.self, context: context)
        let email = body.email.trimmingCharacters(in: .whitespaces).lowercased()
        let user = try await self.repository.find(email: email)
        guard try await self.hasher.verify(body.password, hash: user?.password), let user else {
            throw APIError(.unauthorized, code: "invalid_credentials", message: "invalid email or password")
        }
        return try await self.tokens(for: user, withRefreshToken: true)
    }

    /// `POST /refresh {refreshToken}` → 200 with a new access token for the account as it is now (a changed role
    /// takes effect).
    /// - Throws: 401 `invalid_token` when the token is not a valid refresh token or its account no longer exists.
    @Sendable func refresh(request: Request, context: ServiceRequestContext) async throws -> TokenResponse {
        let body = try await request.decode(as: RefreshRequest.self, context: context)
        let invalid = APIError(.unauthorized, code: "invalid_token", message: "the refresh token is invalid or expired")
        guard let claims = try? await self.authority.verify(body.refreshToken, expecting: .refresh),
            let id = MongoObjectID(claims.userID)
        else { throw invalid }
        guard let user = try await self.repository.find(id: id) else { throw invalid }
        return try await self.tokens(for: user, withRefreshToken: false)
    }

    /// `GET /users` → 200 with every user (`[]` when there are none). Admins only.
    /// - Throws: 403 for anyone else.
    @Sendable func list(request: Request, context: ServiceRequestContext) async throws -> [UserResponse] {
        _ = try context.requireRole(.admin)
        return try await self.repository.list().map { UserResponse($0) }
    }

    /// `GET /users/{id}` → 200 with the user. 200 means "the user exists" to other services.
    /// - Throws: 400 `invalid_id`, 403 (not the owner, an admin or a service), 404.
    @Sendable func show(request: Request, context: ServiceRequestContext) async throws -> UserResponse {
        let id = try Self.userID(context)
        _ = try context.requireAccess(toUser: id.hex)
        guard let user = try await self.repository.find(id: id) else { throw APIError.notFound("user") }
        return UserResponse(user)
    }

    /// `GET /me` → 200 with the caller's account.
    /// - Throws: 404 when the caller is not an account (a service token) or it was deleted.
    @Sendable func me(request: Request, context: ServiceRequestContext) async throws -> UserResponse {
        let identity = try context.requireIdentity()
        guard let id = MongoObjectID(identity.userID), let user = try await self.repository.find(id: id) else {
            throw APIError.notFound("user")
        }
        return UserResponse(user)
    }

    /// `PUT|PATCH /users/{id}` with any of `name`, `phone`, `email`, `password` (with `currentPassword`), `role`
    /// (admins only) → 200 with the user after the change. Other fields are ignored; types are enforced.
    /// - Throws: 400 `invalid_id` / `validation_failed` / a decoding error, 403 (not the owner; a non-admin sending
    ///   `role`; a wrong `currentPassword`: `wrong_password`), 404, 409 `email_taken`.
    @Sendable func update(request: Request, context: ServiceRequestContext) async throws -> UserResponse {
        let id = try Self.userID(context)
        let caller = try context.requireAccess(toUser: id.hex)
        let body = try await request.decode(as: UpdateRequest.self, context: context)
        var changes = UserChanges()
        if let role = body.role {
            guard caller.role == .admin else {
                throw APIError(.forbidden, code: "forbidden", message: "only an admin may change a role")
            }
            guard role != .service else { throw APIError.validation("role must be customer or admin") }
            changes.role = role
        }
        if let name = body.name { changes.name = try Self.validName(name) }
        if let email = body.email { changes.email = try Self.validEmail(email) }
        if let phone = body.phone { changes.phone = try Self.validPhone(phone) }
        var expectedPasswordHash: String?
        if let password = body.password {
            try Self.validatePassword(password)
            guard let current = body.currentPassword else {
                throw APIError.validation("changing the password needs currentPassword")
            }
            guard let user = try await self.repository.find(id: id) else { throw APIError.notFound("user") }
            guard try await self.hasher.verify(current, hash: user.password) else {
                throw APIError(.forbidden, code: "wrong_password", message: "currentPassword is not correct")
            }
            changes.passwordHash = try await self.hasher.hash(password)
            expectedPasswordHash = user.password
        }
        if changes.isEmpty {
            guard let user = try await self.repository.find(id: id) else { throw APIError.notFound("user") }
            return UserResponse(user)
        }
        do {
            guard
                let user = try await self.repository.update(id: id, changes, expectedPasswordHash: expectedPasswordHash)
            else {
                if expectedPasswordHash != nil, try await self.repository.find(id: id) != nil {
                    throw APIError.conflict("the password was changed concurrently; try again")
                }
                throw APIError.notFound("user")
            }
            return UserResponse(user)
        } catch let error as MongoStoreError where error.code == .duplicateKey {
            throw Self.emailTaken
        }
    }

    /// `DELETE /users/{id}` → 200 `{message, deleted: 1}`; the `user-deleted` event is written in the same
    /// transaction.
    /// - Throws: 400 `invalid_id`, 403, 404 (nothing deleted, no event).
    @Sendable func delete(request: Request, context: ServiceRequestContext) async throws -> DeleteResponse {
        let id = try Self.userID(context)
        _ = try context.requireAccess(toUser: id.hex)
        guard try await self.repository.delete(id: id) else { throw APIError.notFound("user") }
        return DeleteResponse(message: "Deleted 1 user(s)", deleted: 1)
    }

    // MARK: Helpers

    private func tokens(for user: User, withRefreshToken: Bool) async throws -> TokenResponse {
        let access = try await self.authority.accessToken(for: user.identity)
        return TokenResponse(
            token: access,
            Token: access,
            refreshToken: withRefreshToken ? try await self.authority.refreshToken(for: user.identity) : nil,
            tokenType: "Bearer",
            expiresIn: self.authority.configuration.accessTokenLifetime.components.seconds
        )
    }

    static var emailTaken: APIError {
        APIError.conflict("an account with this email already exists", code: "email_taken")
    }

    static func userID(_ context: ServiceRequestContext) throws -> MongoObjectID {
        try MongoObjectID.fromRequest(context.parameters.get("id"), name: "the user id")
    }

    /// 2–50 characters (Unicode scalars, as the original counted runes) after trimming.
    static func validName(_ name: String) throws -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (2...50).contains(trimmed.unicodeScalars.count) else {
            throw APIError.validation("name must be 2 to 50 characters")
        }
        return trimmed
    }

    /// A syntactically valid address (one `@`, a local part of 1–64 printable characters without spaces, a domain
    /// of dot-separated labels of letters, digits and hyphens with at least two labels), in lower case.
    static func validEmail(_ email: String) throws -> String {
        let invalid = APIError.validation("email must be a valid email address")
        let address = email.trimmingCharacters(in: .whitespaces).lowercased()
        guard address.utf8.count <= 254 else { throw invalid }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw invalid }
        let local = parts[0]
        let domain = parts[1]
        let localAllowed = Set("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~.-")
        guard (1...64).contains(local.count), local.allSatisfy(localAllowed.contains), local.first != ".",
            local.last != ".", !local.contains("..")
        else { throw invalid }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        let labelAllowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        guard labels.count >= 2,
            labels.allSatisfy({ label in
                (1...63).contains(label.count) && label.allSatisfy(labelAllowed.contains) && label.first != "-"
                    && label.last != "-"
            })
        else { throw invalid }
        return address
    }

    /// 8–72 bytes of UTF-8 (bcrypt ignores anything after 72 bytes), without NUL.
    static func validatePassword(_ password: String) throws {
        guard (8...72).contains(password.utf8.count), !password.utf8.contains(0) else {
            throw APIError.validation("password must be 8 to 72 bytes long")
        }
    }

    static func validPhone(_ phone: Int64) throws -> Int64 {
        guard phone >= 0 else { throw APIError.validation("phone must not be negative") }
        return phone
    }
}
