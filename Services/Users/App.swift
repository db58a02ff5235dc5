import ServiceKit

/// The user service: accounts, login and tokens (port 8080, database `UserService`).
@main
struct App {
    static func main() async throws {
        try await ServiceRuntime.run(.user) { @Sendable runtime in try await buildApplication(runtime) }
    }
}
