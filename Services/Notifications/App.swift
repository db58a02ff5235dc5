import ServiceKit

/// The notification service (port 2000, database `NotificationService`): one notification per user for each
/// `user-created`, `user-deleted` and `payment-events` event, stored idempotently and delivered with retries.
@main
struct App {
    static func main() async throws {
        try await ServiceRuntime.run(.notification) { @Sendable runtime in try await buildApplication(runtime) }
    }
}
