import ServiceKit

/// The inventory service (port 6000, database `InventoryService`): stock per product, reservations that really hold
/// stock, commit/cancel from `payment-events`, expiry by a sweeper, and `reservation-lost` on `inventory-events`.
@main
struct App {
    static func main() async throws {
        try await ServiceRuntime.run(.inventory) { @Sendable runtime in try await buildApplication(runtime) }
    }
}
