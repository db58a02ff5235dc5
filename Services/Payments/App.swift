import ServiceKit

/// The payment service: charges orders once, refunds them, and announces both on `payment-events`
/// (port 3000, database `PaymentService`).
@main
struct App {
    static func main() async throws {
        try await ServiceRuntime.run(.payment) { @Sendable runtime in try await buildApplication(runtime) }
    }
}
