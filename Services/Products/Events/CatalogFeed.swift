import Foundation
import KafkaBus
import Logging
import ServiceKit
import StorefrontContracts

/// Applies `product-events` and `stock-levels` to the view. Every product instance reads both topics whole, without
/// a consumer group (``KafkaBusReader``), from the moment it starts.
struct CatalogFeed: Sendable {
    let view: CatalogView
    let logger: Logger

    /// The topics the feed reads.
    static let topics = [Topics.productEvents.name, Topics.stockLevels.name]

    /// A reader of ``topics`` that hands every message to ``handle(_:)``.
    func makeReader(configuration: KafkaBusConfiguration) throws -> KafkaBusReader {
        try KafkaBusReader(configuration: configuration, topics: Self.topics, logger: self.logger) { message in
            self.handle(message)
        }
    }

    /// Applies one message; one that does not decode is logged and skipped (nothing else could be done with it).
    func handle(_ message: KafkaBusMessage) {
        do {
            let decoder = StorefrontJSON.decoder()
            switch message.topic {
            case Topics.productEvents.name:
                let event = try decoder.decode(ProductEvent.self, from: Data(message.value))
                let json = try event.product.map { try Catalog.json(ProductController.ProductResponse($0)) }
                if event.kind != .deleted && json == nil { return }  // a change without its product: nothing to show
                self.view.applyProduct(event.productId, .init(json: json, version: event.version))
            case Topics.stockLevels.name:
                let event = try decoder.decode(StockLevelEvent.self, from: Data(message.value))
                self.view.applyStock(
                    event.productId,
                    .init(json: try event.record.map { try Catalog.json($0) }, version: event.version)
                )
            default:
                return
            }
        } catch {
            self.logger.warning(
                "catalog event skipped: it does not decode",
                metadata: ["kafka.topic": "\(message.topic)", "kafka.offset": "\(message.offset)", "error": "\(error)"]
            )
        }
    }
}
