import Hummingbird
import Logging
import ServiceAuth
import ServiceKit

/// The reservation routes (all protected; admin or service).
///
/// | method | path | body | success |
/// |---|---|---|---|
/// | POST | `/reserve` | `{orderId, items: [{productId, quantity}]}` | 201 reservation (200 for an order already reserved) |
/// | GET | `/reservations/{id}` | | 200 reservation |
/// | POST | `/reservations/{id}/cancel` | | 200 reservation (stock back on sale: `CANCELLED`, or `EXPIRED`); 503 `reservation_busy` |
///
/// Reservation: `{reservationId, orderId, status, items, expiresAt, createdAt, success, message}`.
/// Errors: 400 `validation_failed` / `invalid_id`, 401, 403, 404, 409 `insufficient_stock`, 503 `reservation_busy`.
struct ReservationController: Sendable {
    let reservations: Reservations

    struct ReserveRequest: Decodable {
        struct Item: Decodable {
            var productId: String?
            var quantity: Int?
        }
        var orderId: String?
        var items: [Item]?
    }

    struct ReservationResponse: ResponseEncodable {
        var reservationId: String
        var orderId: String
        var status: String
        var items: [Reservation.Item]
        var expiresAt: String
        var createdAt: String
        var success: Bool
        var message: String

        init(_ reservation: Reservation) {
            self.reservationId = reservation.id
            self.orderId = reservation.orderId
            self.status = reservation.status.rawValue
            self.items = reservation.items
            self.expiresAt = rfc3339(reservation.expiresAt)
            self.createdAt = rfc3339(reservation.createdAt)
            self.success = reservation.status != .cancelled && reservation.status != .expired
            self.message = "Reservation created successfully"
        }
    }

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.post("/reserve", use: self.reserve)
        group.get("/reservations/:id", use: self.get)
        group.post("/reservations/:id/cancel", use: self.cancel)
    }

    /// `POST /reservations/{id}/cancel` (service or admin): the order will not go ahead (failed, cancelled, or
    /// refunded before shipping), so its stock goes back on sale: held units are released, sold ones returned, and
    /// a later payment success for it sells nothing (``Reservations/withdraw(id:)``). Idempotent: 200 with the
    /// reservation (`CANCELLED`, or `EXPIRED` when its hold had already lapsed); 503 `reservation_busy` while it is
    /// still being made.
    @Sendable
    func cancel(request: Request, context: ServiceRequestContext) async throws -> ReservationResponse {
        _ = try context.requireRole(.service, .admin)
        let id = try context.parameters.require("id")
        switch try await self.reservations.withdraw(id: id) {
        case .notFound:
            throw APIError.notFound("reservation")
        case .notReady:
            throw APIError.unavailable("the reservation is still being made; try again", code: "reservation_busy")
        case .withdrawn(let reservation):
            context.logger.info(
                "reservation withdrawn on request; its stock is back on sale",
                metadata: ["reservation.id": "\(id)", "order.id": "\(reservation.orderId)"]
            )
            return ReservationResponse(reservation)
        }
    }

    @Sendable
    func reserve(request: Request, context: ServiceRequestContext) async throws -> EditedResponse<ReservationResponse> {
        _ = try context.requireRole(.service, .admin)
        let body = try await request.decode(as: ReserveRequest.self, context: context)
        guard let orderID = body.orderId, !orderID.isEmpty, orderID.utf8.count <= 128 else {
            throw APIError.validation("orderId is required (at most 128 characters)")
        }
        guard let rawItems = body.items, !rawItems.isEmpty else { throw APIError.validation("items are required") }
        guard rawItems.count <= 100 else { throw APIError.validation("at most 100 items per reservation") }
        var items: [Reservation.Item] = []
        var seen: Set<String> = []
        for raw in rawItems {
            let productID = try InventoryController.objectID(raw.productId, name: "productId")
            guard let quantity = raw.quantity, quantity > 0 else {
                throw APIError.validation("quantity must be a positive integer")
            }
            guard seen.insert(productID).inserted else {
                throw APIError.validation("product \(productID) appears more than once")
            }
            items.append(.init(productId: productID, quantity: quantity))
        }
        switch try await self.reservations.reserve(orderID: orderID, items: items) {
        case .created(let reservation):
            context.logger.info(
                "stock reserved",
                metadata: ["reservation.id": "\(reservation.id)", "order.id": "\(orderID)"]
            )
            return EditedResponse(status: .created, response: ReservationResponse(reservation))
        case .existing(let reservation):
            return EditedResponse(status: .ok, response: ReservationResponse(reservation))
        case .insufficient(let productID):
            throw APIError.conflict("Insufficient inventory for product: \(productID)", code: "insufficient_stock")
        case .busy:
            throw APIError.unavailable("the reservation could not be completed; try again", code: "reservation_busy")
        }
    }

    @Sendable
    func get(request: Request, context: ServiceRequestContext) async throws -> ReservationResponse {
        _ = try context.requireRole(.service, .admin)
        let id = try context.parameters.require("id")
        guard let reservation = try await self.reservations.find(id: id) else { throw APIError.notFound("reservation") }
        return ReservationResponse(reservation)
    }
}
