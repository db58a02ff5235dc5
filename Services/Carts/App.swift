import ServiceKit

/// The cart service (port 9000, database `CartService`): one cart per user, kept in step with the user service's
/// `user-created` / `user-deleted` events, with prices and stock read from the product and inventory services.
@main
struct App {
    static func main() async throws {
        try await ServiceRuntime.run(.cart) { @Sendable runtime in try await buildApplication(runtime) }
    }
}
