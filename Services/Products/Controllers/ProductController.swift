import Foundation
import Hummingbird
import Logging
import MongoStore
import ServiceAuth
import ServiceKit
import StorefrontContracts

/// The product service's routes: the catalog reads `GET /get` and `GET /get/{id}` are public (a shop is browsed
/// before login); `POST /create`, `PUT|PATCH /update/{id}` and `DELETE /delete/{id}` need an admin's token.
struct ProductController: Sendable {
    let repository: ProductRepository
    let inventory: InventoryClient
    let catalog: Catalog
    let logger: Logger

    /// The stock a product starts with when the create request does not say (the original's hard-coded 100).
    static var defaultInitialStock: Int64 { 100 }

    func addRoutes(public: RouterGroup<ServiceRequestContext>, protected group: RouterGroup<ServiceRequestContext>) {
        `public`.get("/get", use: self.list)
        `public`.get("/get/:id", use: self.show)
        group.post("/create", use: self.create)
        group.put("/update/:id", use: self.update)
        group.patch("/update/:id", use: self.update)
        group.delete("/delete/:id", use: self.delete)
    }

    // MARK: Request and response bodies

    /// Unknown fields (a client `_id`, `createdAt`, `updatedAt`) are ignored; a field of the wrong type is a 400.
    struct CreateRequest: Decodable {
        var name: String
        var description: String?
        var category: String
        var price: Double
        /// Initial stock; default ``defaultInitialStock``.
        var inventory: Int64?
    }

    /// The whitelist of changeable fields; anything else in the body is ignored, `null` means "unchanged".
    struct UpdateRequest: Decodable {
        var name: String?
        var description: String?
        var category: String?
        var price: Double?
    }

    /// A product as clients see it: the original's keys, in its order.
    struct ProductResponse: ResponseEncodable, Equatable {
        var id: String
        var name: String
        var description: String
        var category: String
        var price: Double
        var createdAt: Date
        var updatedAt: Date

        init(_ product: Product) {
            self.init(product.snapshot)
        }

        init(_ snapshot: ProductEvent.Snapshot) {
            self.id = snapshot.id
            self.name = snapshot.name
            self.description = snapshot.description
            self.category = snapshot.category
            self.price = snapshot.price
            self.createdAt = snapshot.createdAt
            self.updatedAt = snapshot.updatedAt
        }

        enum CodingKeys: String, CodingKey {
            case id = "_id"
            case name, description, category, price, createdAt, updatedAt
        }
    }

    /// `POST /create` answer: the product, plus `message` holding the original's plain-text answer
    /// (`Inserted product with ID: ObjectID("<hex>")`) for clients that extract the id from it.
    struct CreatedResponse: ResponseEncodable, Equatable {
        var message: String
        var id: String
        var name: String
        var description: String
        var category: String
        var price: Double
        var createdAt: Date
        var updatedAt: Date

        init(_ product: Product) {
            self.message = "Inserted product with ID: ObjectID(\"\(product.id.hex)\")"
            self.id = product.id.hex
            self.name = product.name
            self.description = product.description
            self.category = product.category
            self.price = product.price
            self.createdAt = product.createdAt
            self.updatedAt = product.updatedAt
        }

        enum CodingKeys: String, CodingKey {
            case message
            case id = "_id"
            case name, description, category, price, createdAt, updatedAt
        }
    }

    /// `GET /get/{id}` answer, as the original: the product and the inventory service's record of it. The catalog view
    /// (``CatalogView``) writes this document from its halves, encoded once per change, not per request.
    struct DetailResponse: ResponseEncodable {
        var product: ProductResponse
        /// `null` when the inventory service has no record (see ``show(request:context:)``).
        var inventory: JSONValue?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.product, forKey: .product)
            try container.encode(self.inventory ?? .null, forKey: .inventory)
        }

        enum CodingKeys: String, CodingKey { case product, inventory }
    }

    struct DeleteResponse: ResponseEncodable, Equatable {
        var message: String
        var deleted: Int
    }

    // MARK: Handlers

    /// `POST /create {name, category, price, description?, inventory?}` → 201 with the product. Admins only.
    ///
    /// A product never exists without its stock record, so the order is:
    /// 1. validate everything (400 before any side effect);
    /// 2. choose the product id here, and create the inventory record for it first (idempotent by product id). If
    ///    that fails or the inventory service is unreachable: 503 (or 502) and nothing is stored here;
    /// 3. insert the product. Until this insert, the record is invisible to clients (nobody knows the id and no
    ///    product points at it), so a crash between 2 and 3 leaves at worst an unused stock record, never a product
    ///    without stock. If the insert fails, the record is deleted again (best effort, logged) and the insert's
    ///    error is answered.
    /// - Throws: 400 `validation_failed` / `bad_request`, 401, 403, 503 `dependency_unavailable`.
    @Sendable func create(
        request: Request,
        context: ServiceRequestContext
    ) async throws -> EditedResponse<CreatedResponse> {
        _ = try context.requireRole(.admin)
        let body = try await request.decode(as: CreateRequest.self, context: context)
        let stock = body.inventory ?? Self.defaultInitialStock
        guard stock >= 0 else { throw APIError.validation("inventory must be an integer of at least 0") }
        let now = Date()
        let product = Product(
            name: try Self.validName(body.name),
            description: try Self.validDescription(body.description ?? ""),
            category: try Self.validCategory(body.category),
            price: try Self.validPrice(body.price),
            createdAt: now,
            updatedAt: now
        )
        let productID = product.id.hex
        do {
            try await self.inventory.create(productID: productID, stock: stock)
        } catch let error as ServiceClientError where error.code == .unavailable {
            // Timed out: the inventory service may have created the record after all. Nothing will ever use it,
            // but try to remove it so it does not linger.
            await self.compensate(productID: productID, reason: "inventory create timed out or failed")
            throw error
        }
        do {
            try await self.repository.insert(product)
        } catch {
            self.logger.error(
                "product insert failed after its inventory record was created; deleting the record",
                metadata: ["product.id": "\(productID)", "error": "\(error)"]
            )
            await self.compensate(productID: productID, reason: "product insert failed")
            throw error
        }
        return EditedResponse(status: .created, response: CreatedResponse(product))
    }

    /// Best-effort removal of a stock record whose product was not stored; only logs.
    private func compensate(productID: String, reason: String) async {
        do {
            let outcome = try await self.inventory.delete(productID: productID)
            self.logger.warning(
                "compensation: inventory record removed",
                metadata: ["product.id": "\(productID)", "reason": "\(reason)", "outcome": "\(outcome)"]
            )
        } catch {
            self.logger.error(
                "compensation failed: an inventory record without a product may remain",
                metadata: ["product.id": "\(productID)", "reason": "\(reason)", "error": "\(error)"]
            )
        }
    }

    /// `GET /get?q=&category=&minPrice=&maxPrice=&sort=&limit=&offset=` → 200 with a JSON array (`[]` when nothing
    /// matches). See ``parseQuery(_:)``.
    /// - Throws: 400 `invalid_query` for a malformed parameter.
    @Sendable func list(request: Request, context: ServiceRequestContext) async throws -> [ProductResponse] {
        let query = try Self.parseQuery(request.uri.query)
        return try await self.repository.list(query).map { ProductResponse($0) }
    }

    /// `GET /get/{id}` → 200 `{product, inventory}`, from the catalog view (``Catalog``): no store or inventory call
    /// while the entry is fresh; otherwise both read in parallel, as before the view.
    ///
    /// `inventory` is the inventory service's record as it sent it (or as its `stock-levels` events carry it), at most
    /// `CATALOG_MAX_STALENESS_MS` old. When it has no record (404), which the create and delete ordering allows only
    /// while a delete is in progress or after one failed halfway, the answer is 200 with `"inventory": null` (the
    /// product exists; nothing is available for sale) rather than the original's 502.
    /// - Throws: 400 `invalid_id`, 404 (checked first), 503 when the inventory service is unreachable while the entry
    ///   must be refilled (never a silent partial answer, never data older than the bound), 502 when it answers
    ///   something unexpected.
    @Sendable func show(request: Request, context: ServiceRequestContext) async throws -> Response {
        switch try await self.catalog.detail(try Self.productID(context)) {
        case .found(let body):
            return Response(
                status: .ok,
                headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes)],
                body: .init(byteBuffer: body)
            )
        case .notFound:
            throw APIError.notFound("product")
        }
    }

    /// `PUT|PATCH /update/{id}` with any of `name`, `description`, `category`, `price` (validated as on create; other
    /// fields ignored; a wrong type is a 400, so a field never changes type) → 200 with the product after the change.
    /// Admins only.
    /// - Throws: 400, 401, 403, 404.
    @Sendable func update(request: Request, context: ServiceRequestContext) async throws -> ProductResponse {
        _ = try context.requireRole(.admin)
        let id = try Self.productID(context)
        let body = try await request.decode(as: UpdateRequest.self, context: context)
        var changes = ProductChanges()
        if let name = body.name { changes.name = try Self.validName(name) }
        if let description = body.description { changes.description = try Self.validDescription(description) }
        if let category = body.category { changes.category = try Self.validCategory(category) }
        if let price = body.price { changes.price = try Self.validPrice(price) }
        if changes.isEmpty {
            guard let product = try await self.repository.find(id: id) else { throw APIError.notFound("product") }
            return ProductResponse(product)
        }
        guard let product = try await self.repository.update(id: id, changes) else {
            throw APIError.notFound("product")
        }
        self.catalog.changed(product)
        return ProductResponse(product)
    }

    /// `DELETE /delete/{id}` → 200 `{message, deleted: 1}`. Admins only.
    ///
    /// The stock record goes first, so a product never exists without one except while this request runs (or after
    /// the product delete itself failed, when `GET /get/{id}` shows `inventory: null` and a retry finishes the job):
    /// - inventory answers 409 (units reserved by pending orders) → 409 `pending_reservations`, the product stays;
    /// - inventory unreachable → 503, the product stays;
    /// - inventory has no record (404) → proceed;
    /// then the product is deleted.
    /// - Throws: 400 `invalid_id`, 401, 403, 404, 409 `pending_reservations`, 503.
    @Sendable func delete(request: Request, context: ServiceRequestContext) async throws -> DeleteResponse {
        _ = try context.requireRole(.admin)
        let id = try Self.productID(context)
        guard try await self.repository.find(id: id) != nil else { throw APIError.notFound("product") }
        switch try await self.inventory.delete(productID: id.hex) {
        case .pendingReservations:
            throw APIError.conflict(
                "the product has units reserved by pending orders; it cannot be deleted now",
                code: "pending_reservations"
            )
        case .notFound:
            self.logger.warning(
                "deleting a product that had no inventory record",
                metadata: ["product.id": "\(id.hex)"]
            )
        case .deleted:
            break
        }
        guard let version = try await self.repository.delete(id: id) else { throw APIError.notFound("product") }
        self.catalog.deleted(id, version: version)
        return DeleteResponse(message: "Deleted product and its inventory successfully", deleted: 1)
    }

    // MARK: Validation

    static func productID(_ context: ServiceRequestContext) throws -> MongoObjectID {
        try MongoObjectID.fromRequest(context.parameters.get("id"), name: "the product id")
    }

    /// 1–200 characters after trimming.
    static func validName(_ name: String) throws -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(trimmed.count) else { throw APIError.validation("name must be 1 to 200 characters") }
        return trimmed
    }

    /// Non-empty after trimming, at most 100 characters.
    static func validCategory(_ category: String) throws -> String {
        let trimmed = category.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...100).contains(trimmed.count) else {
            throw APIError.validation("category is required (1 to 100 characters)")
        }
        return trimmed
    }

    /// At most 5000 characters.
    static func validDescription(_ description: String) throws -> String {
        guard description.count <= 5000 else {
            throw APIError.validation("description must be at most 5000 characters")
        }
        return description
    }

    /// At least 0.01 once rounded to the cent, at most 2 decimals, at most 1 000 000 000; returned rounded to the cent.
    static func validPrice(_ price: Double) throws -> Double {
        guard price.isFinite, price > 0, price <= 1_000_000_000 else {
            throw APIError.validation("price must be greater than 0 (and at most 1000000000)")
        }
        let cents = (price * 100).rounded()
        guard abs(price * 100 - cents) < 1e-6 else { throw APIError.validation("price must have at most 2 decimals") }
        // Checked on the cents, not the number sent: 1e-9 has "no decimals" beyond the cent but is 0 once stored.
        guard cents >= 1 else { throw APIError.validation("price must be at least 0.01") }
        return cents / 100
    }

    /// Reads the list parameters. Empty `q` and `category` mean "no filter"; unknown parameters are ignored.
    /// - `minPrice`, `maxPrice`: numbers ≥ 0, `minPrice ≤ maxPrice`;
    /// - `sort`: `price`, `-price`, `name` or `-createdAt` (default);
    /// - `limit`: 1–200 (default 50); `offset`: ≥ 0 (default 0).
    /// - Throws: 400 `invalid_query` naming the parameter.
    static func parseQuery(_ queryString: String?) throws -> ProductQuery {
        let parameters = QueryParameters(query: queryString)
        var query = ProductQuery()
        if let text = try parameters.single("q"), !text.isEmpty {
            guard text.count <= 200 else { throw QueryParameters.invalid("q must be at most 200 characters") }
            query.text = text
        }
        if let category = try parameters.single("category"), !category.isEmpty { query.category = category }
        query.minPrice = try parameters.nonNegativeNumber("minPrice")
        query.maxPrice = try parameters.nonNegativeNumber("maxPrice")
        if let minPrice = query.minPrice, let maxPrice = query.maxPrice, minPrice > maxPrice {
            throw QueryParameters.invalid("minPrice must not be greater than maxPrice")
        }
        if let sort = try parameters.single("sort") {
            guard let value = ProductQuery.Sort(rawValue: sort) else {
                throw QueryParameters.invalid("sort must be one of price, -price, name, -createdAt")
            }
            query.sort = value
        }
        (query.limit, query.offset) = try parameters.page()
        return query
    }
}
