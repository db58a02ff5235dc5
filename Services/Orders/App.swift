import ServiceKit

/// The order service (port 7000, database `OrderService`, collection `orders`): places orders (user check, cart,
/// current prices, stock reservation under the order's id, payment), follows `payment-events` and `inventory-events`
/// to their final state, and lets owners read and cancel their orders.
@main
struct App {
    static func main() async throws {
        try await ServiceRuntime.run(.order) { @Sendable runtime in try await buildApplication(runtime) }
    }
}
