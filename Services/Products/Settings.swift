import ServiceKit

/// The product service's own settings (those of its catalog view).
struct ProductSettings: Sendable {
    /// `catalog.max.staleness.ms` (`CATALOG_MAX_STALENESS_MS`), default 10000: the oldest data `GET /get/{id}` may
    /// answer when events stop arriving (see ``CatalogView``).
    var maxStaleness: Duration = .seconds(10)
    /// `catalog.max.entries` (`CATALOG_MAX_ENTRIES`), default 100000: products kept in memory (least recently read
    /// evicted first).
    var capacity = 100_000

    init(runtime: ServiceRuntime) throws {
        if let value = try runtime.positiveSetting("catalog.max.staleness.ms") {
            self.maxStaleness = .milliseconds(value)
        }
        if let value = try runtime.positiveSetting("catalog.max.entries") { self.capacity = value }
    }
}
