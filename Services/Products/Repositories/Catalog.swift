import Foundation
import Hummingbird
import Logging
import MongoStore
import ServiceKit
import StorefrontContracts

/// `GET /get/{id}` from the ``CatalogView``, filled on a miss from the store and the inventory service in parallel,
/// as the route did before the view existed.
struct Catalog: Sendable {
    let view: CatalogView
    let repository: ProductRepository
    let inventory: InventoryClient
    let logger: Logger

    /// The answer for `id`: from the view when it has a fresh one, else filled.
    /// - Throws: 503 when the inventory service is unreachable during a fill, 502 when it answers something
    ///   unexpected: a stale entry is never served past the staleness bound.
    func detail(_ id: MongoObjectID) async throws -> CatalogView.Answer {
        let key = id.hex
        if let answer = self.view.read(key) { return answer }
        let start = self.view.startFill(key)
        async let record = self.inventory.versionedRecord(productID: key)
        guard let product = try await self.repository.find(id: id) else {
            _ = try? await record
            return self.view.finishFill(key, from: start, product: .init(json: nil, version: nil), stock: .init())
        }
        let stock = try await record
        if stock == nil {
            self.logger.warning("product without an inventory record", metadata: ["product.id": "\(key)"])
        }
        return self.view.finishFill(
            key,
            from: start,
            product: .init(json: try Self.json(ProductController.ProductResponse(product)), version: product.version),
            stock: .init(
                json: try stock.map { try Self.json(JSONValue.object($0.record)) },
                version: stock.flatMap { $0.version }
            )
        )
    }

    /// After this instance changed a product: its view shows the change at once (read-your-writes).
    func changed(_ product: Product) {
        guard let json = try? Self.json(ProductController.ProductResponse(product)) else { return }
        self.view.applyProduct(product.id.hex, .init(json: json, version: product.version))
    }

    /// After this instance deleted a product (`version`: its deletion's; 0 when unknown).
    func deleted(_ id: MongoObjectID, version: Int64) {
        self.view.applyProduct(id.hex, .init(json: nil, version: version == 0 ? nil : version))
    }

    /// `value` as the detail answer writes it.
    static func json(_ value: some Encodable) throws -> [UInt8] {
        Array(try StorefrontJSON.encoder().encode(value))
    }
}
