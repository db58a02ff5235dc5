import Foundation
import HTTPTypes
import Hummingbird
import MongoStore
import ServiceAuth
import ServiceKit
import StorefrontContracts

/// The stock routes (all protected).
///
/// | method | path | who | body | success |
/// |---|---|---|---|---|
/// | GET | `/get/{productId}` | any caller | | 200 record |
/// | POST | `/create` | admin, service | `{productId, inventory}` | 201 record (200 with the existing one) |
/// | PUT | `/update/{productId}` | admin | `{onHand}` or `{inventory}` (= new on-hand) | 200 record |
/// | DELETE | `/delete/{productId}` | admin, service | | 200 `{message, productId}` |
///
/// Record: `{_id, productId, inventory, reserved, sold, onHand, createdAt, ccreatedAt, updatedAt}`.
/// Errors: 400 `invalid_id` / `validation_failed` / `bad_request`, 401, 403, 404 `not_found`, 409 `below_reserved` /
/// `pending_reservations`, 503 `busy`.
struct InventoryController: Sendable {
    let ledger: StockLedger

    struct CreateRequest: Decodable {
        var productId: String?
        var inventory: Int?
    }

    struct UpdateRequest: Decodable {
        var onHand: Int?
        var inventory: Int?
    }

    struct RecordResponse: ResponseEncodable {
        var _id: String
        var productId: String
        var inventory: Int
        var reserved: Int
        var sold: Int
        var onHand: Int
        var createdAt: String
        /// The original's misspelled key (contract §2.3), kept for clients that read it.
        var ccreatedAt: String
        var updatedAt: String

        init(_ record: StockRecord) {
            self._id = record.id
            self.productId = record.productId
            self.inventory = record.inventory
            self.reserved = record.reserved
            self.sold = record.sold
            self.onHand = record.onHand
            self.createdAt = rfc3339(record.createdAt)
            self.ccreatedAt = self.createdAt
            self.updatedAt = rfc3339(record.updatedAt)
        }
    }

    struct DeleteResponse: ResponseEncodable {
        var message: String
        var productId: String
    }

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.get("/get/:productId", use: self.get)
        group.post("/create", use: self.create)
        group.put("/update/:productId", use: self.update)
        group.delete("/delete/:productId", use: self.delete)
    }

    /// The record, with its version in the `stock-version` header (``StockLevelEvent/versionHeader``): the product
    /// service's catalog view orders this answer against the `stock-levels` events by it.
    @Sendable
    func get(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<RecordResponse> {
        _ = try context.requireIdentity()
        let productID = try Self.objectID(context.parameters.get("productId"), name: "productId")
        guard let record = try await self.ledger.record(productID) else { throw APIError.notFound("inventory") }
        return EditedResponse(headers: Self.versionHeader(record), response: RecordResponse(record))
    }

    static func versionHeader(_ record: StockRecord) -> HTTPFields {
        [HTTPField.Name(StockLevelEvent.versionHeader)!: String(record.version)]
    }

    @Sendable
    func create(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<RecordResponse> {
        _ = try context.requireRole(.admin, .service)
        let body = try await request.decode(as: CreateRequest.self, context: context)
        let productID = try Self.objectID(body.productId, name: "productId")
        let inventory = body.inventory ?? 0
        guard inventory >= 0 else { throw APIError.validation("inventory must be an integer of 0 or more") }
        let record = StockRecord(
            id: MongoObjectID().hex,
            productId: productID,
            inventory: inventory,
            now: Date().epochMilliseconds
        )
        do {
            try await self.ledger.create(record)
            return EditedResponse(status: .created, response: RecordResponse(record))
        } catch let error as MongoStoreError where error.code == .duplicateKey {
            guard let existing = try await self.ledger.record(productID) else { throw error }
            return EditedResponse(status: .ok, response: RecordResponse(existing))
        }
    }

    @Sendable
    func update(request: Request, context: ServiceRequestContext) async throws -> RecordResponse {
        _ = try context.requireRole(.admin)
        let productID = try Self.objectID(context.parameters.get("productId"), name: "productId")
        let body = try await request.decode(as: UpdateRequest.self, context: context)
        guard let onHand = body.onHand ?? body.inventory else {
            throw APIError.validation("onHand (or inventory) is required")
        }
        guard onHand >= 0 else { throw APIError.validation("onHand must be an integer of 0 or more") }
        switch try await self.ledger.setOnHand(productID, to: onHand) {
        case .updated(let record): return RecordResponse(record)
        case .notFound: throw APIError.notFound("inventory")
        case .belowReserved(let reserved):
            throw APIError.conflict(
                "on-hand stock cannot be set below the \(reserved) units reserved",
                code: "below_reserved"
            )
        case .contended: throw APIError.unavailable("the stock is changing too fast; try again", code: "busy")
        }
    }

    @Sendable
    func delete(request: Request, context: ServiceRequestContext) async throws -> DeleteResponse {
        _ = try context.requireRole(.admin, .service)
        let productID = try Self.objectID(context.parameters.get("productId"), name: "productId")
        switch try await self.ledger.delete(productID) {
        case .deleted: return DeleteResponse(message: "Inventory deleted", productId: productID)
        case .notFound: throw APIError.notFound("inventory")
        case .pendingReservations:
            throw APIError.conflict("the product has pending reservations", code: "pending_reservations")
        case .contended: throw APIError.unavailable("the stock is changing too fast; try again", code: "busy")
        }
    }

    /// A 24-hex id (either case), lower-cased; 400 `invalid_id` otherwise.
    static func objectID(_ value: String?, name: String) throws -> String {
        try MongoObjectID.fromRequest(value, name: name).hex
    }
}
