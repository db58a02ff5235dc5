import ServiceKit

/// The product service (port 4000, database `ProductService`): the catalog (name, description, category, price),
/// each product created and deleted together with its stock record in the inventory service.
@main
struct App {
    static func main() async throws {
        try await ServiceRuntime.run(.product) { @Sendable runtime in try await buildApplication(runtime) }
    }
}
