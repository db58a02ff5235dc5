import ServiceKit

/// The inventory service's own settings.
struct InventorySettings: Sendable {
    /// `reservation.ttl.seconds` (`RESERVATION_TTL_SECONDS`), default 900.
    var ttl: Duration = .seconds(900)
    /// `reservation.sweep.interval.ms` (`RESERVATION_SWEEP_INTERVAL_MS`), default 5000.
    var sweepInterval: Duration = .seconds(5)
    /// `stock.publish.poll.interval.ms` (`STOCK_PUBLISH_POLL_INTERVAL_MS`), default 5000: how often the stock
    /// publisher looks for pending records nobody woke it for (a crash's leftovers, another instance's writes).
    var stockPublishPollInterval: Duration = .seconds(5)

    init(runtime: ServiceRuntime) throws {
        if let value = try runtime.positiveSetting("reservation.ttl.seconds") { self.ttl = .seconds(value) }
        if let value = try runtime.positiveSetting("reservation.sweep.interval.ms") {
            self.sweepInterval = .milliseconds(value)
        }
        if let value = try runtime.positiveSetting("stock.publish.poll.interval.ms") {
            self.stockPublishPollInterval = .milliseconds(value)
        }
    }
}
