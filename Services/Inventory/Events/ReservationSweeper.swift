import Logging
import ServiceLifecycle

/// Every `interval`, expires PENDING reservations past their TTL (giving their stock back), finishes stock movements
/// a crash left half-done, and rolls back reservations whose request died while holding. Stops on graceful shutdown.
struct ReservationSweeper: Service {
    let reservations: Reservations
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.reservations.sweep(logger: self.logger)
                } catch {
                    self.logger.warning("reservation sweep failed; retrying", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: self.interval)
            }
        }
    }
}
