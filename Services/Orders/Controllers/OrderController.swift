import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import StorefrontContracts

/// The order routes (all protected).
///
/// | method | path | who | success |
/// |---|---|---|---|
/// | POST | `/order` | the user in `userId`, admin | 201 order (a repeat with the same `Idempotency-Key` gets the first answer) |
/// | GET | `/order?status=&limit=&offset=` | admin | 200 `[order]` of every customer, newest first (`[]` when none) |
/// | GET | `/order/{id}` | owner, admin, service | 200 order |
/// | GET | `/order/user/{userId}` | owner, admin, service | 200 `[order]`, newest first (`[]` when none) |
/// | POST | `/order/{id}/cancel` | owner, admin | 200 order (`cancelled`, or `refunded` for a confirmed one) |
/// | POST | `/order/{id}/ship` | admin | 200 order (`shipped`, with `carrier`, `trackingNumber`) |
/// | POST | `/order/{id}/deliver` | admin | 200 order (`delivered`) |
///
/// Order JSON (the original's keys and order): `{_id, userId, products: [{productId, quantity, price}], address,
/// status, createdAt, total, reservationId}`, plus `failureReason` on a failed order and `carrier`, `trackingNumber`,
/// `shippedAt`, `deliveredAt` once shipped.
/// Errors: 400 `validation_failed` / `invalid_id` / `invalid_query` / `bad_request` / `cart_empty` /
/// `product_unavailable`, 401, 403,
/// 404 `not_found` / `user_not_found`, 409 `insufficient_stock` / `invalid_state` / `checkout_in_progress` (with the
/// pending `orderId`) / `idempotency_key_in_progress`, 422 `idempotency_key_reused`, 502 `dependency_failed` (a peer
/// answered outside its contract), 503 `dependency_unavailable` when a peer or the store is down or slow.
struct OrderController: Sendable {
    let repository: OrderRepository
    let peers: Peers
    let settings: OrderSettings

    struct CreateRequest: Decodable {
        var userId: String?
        var address: String?
        var paymentInfo: String?
        /// Accepted and ignored, as in the original (any JSON type).
        var cartId: JSONValue?
    }

    struct OrderResponse: ResponseEncodable {
        var _id: String
        var userId: String
        var products: [OrderLine]
        var address: String
        var status: String
        var createdAt: Date
        var total: Double
        var reservationId: String
        var failureReason: String?
        var carrier: String?
        var trackingNumber: String?
        var shippedAt: Date?
        var deliveredAt: Date?

        init(_ order: Order) {
            self._id = order.id.hex
            self.userId = order.userId
            self.products = order.products
            self.address = order.address
            self.status = order.status.rawValue
            self.createdAt = order.createdAt
            self.total = order.total
            self.reservationId = order.reservationId
            self.failureReason = order.status == .failed ? order.failureReason : nil
            self.carrier = order.carrier
            self.trackingNumber = order.trackingNumber
            self.shippedAt = order.shippedAtMs.map { Date(timeIntervalSince1970: Double($0) / 1000) }
            self.deliveredAt = order.deliveredAtMs.map { Date(timeIntervalSince1970: Double($0) / 1000) }
        }
    }

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.post("/order", use: self.create)
        group.get("/order", use: self.list)
        group.get("/order/user/:userId", use: self.listForUser)
        group.get("/order/:id", use: self.get)
        group.post("/order/:id/cancel", use: self.cancel)
        group.post("/order/:id/ship", use: self.ship)
        group.post("/order/:id/deliver", use: self.deliver)
    }

    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!

    // MARK: POST /order

    @Sendable
    func create(request: Request, context: ServiceRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let body = try await request.decode(as: CreateRequest.self, context: context)
        let userID = try Self.objectID(body.userId, name: "userId")
        guard identity.role == .admin || identity.userID.lowercased() == userID else { throw AuthError.forbidden }
        let address = (body.address ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !address.isEmpty else { throw APIError.validation("address is required") }
        guard address.utf8.count <= 1000 else { throw APIError.validation("address is too long") }
        let paymentInfo = body.paymentInfo ?? ""
        guard paymentInfo.utf8.count <= 1000 else { throw APIError.validation("paymentInfo is too long") }

        guard let key = request.headers[Self.idempotencyHeader] else {
            return try await self.place(
                orderID: MongoObjectID(),
                userID: userID,
                address: address,
                paymentInfo: paymentInfo,
                context: context
            ).response
        }
        guard !key.isEmpty, key.utf8.count <= 255 else {
            throw APIError.validation("Idempotency-Key must be 1 to 255 characters")
        }
        let caller = "\(identity.role.rawValue):\(identity.userID)"
        let keyID = sha256Hex("\(caller)\n\(key)")
        let fingerprint = sha256Hex(
            String(
                decoding: try Self.canonicalEncoder.encode(
                    ["caller": caller, "userId": userID, "address": address, "paymentInfo": paymentInfo]
                ),
                as: UTF8.self
            )
        )
        // The order id is chosen with the claim and stored in it, so a repeat finds the order the key made.
        let orderID = MongoObjectID()
        var owner: String
        switch try await self.repository.claim(
            id: keyID,
            hash: fingerprint,
            orderID: orderID.hex,
            ttlMillis: self.settings.idempotencyTTL,
            staleMillis: self.settings.placementTimeoutMillis
        ) {
        case .claimed(let claimed):
            owner = claimed
        case .mismatch:
            throw APIError.unprocessable(
                "this Idempotency-Key was used with a different request",
                code: "idempotency_key_reused"
            )
        case .replay(let status, let body):
            context.logger.info("idempotent replay of POST /order")
            return Self.jsonResponse(status: status, body: body, replayed: true)
        case .inProgress(let record):
            // The first request chose an order: once stored, the order is the answer, whatever became of that
            // request (a crash, or still charging). Before, the request may have died; after the placement time
            // limit, its placement is rejected (checkout and stock released) and this request starts again.
            guard let chosen = record.orderId else { throw Self.keyInProgress }
            if let order = try await self.repository.find(chosen) { return try Self.replay(order) }
            guard record.createdAt <= Date().epochMilliseconds - self.settings.placementTimeoutMillis else {
                throw Self.keyInProgress
            }
            await self.reject(orderID: chosen, userID: userID, reason: "the request placing it stopped")
            if let order = try await self.repository.find(chosen) { return try Self.replay(order) }
            guard
                let taken = try await self.repository.takeOver(
                    record,
                    orderID: orderID.hex,
                    ttlMillis: self.settings.idempotencyTTL
                )
            else { throw Self.keyInProgress }
            context.logger.info("Idempotency-Key taken over from a request that stopped before placing its order")
            owner = taken
        }
        let placed: Placed
        do {
            placed = try await self.place(
                orderID: orderID,
                userID: userID,
                address: address,
                paymentInfo: paymentInfo,
                context: context
            )
        } catch {
            // Nothing was created (every failure after the order is stored still answers 201): free the key.
            try? await self.repository.release(key: keyID, owner: owner)
            throw error
        }
        try? await self.repository.complete(key: keyID, owner: owner, status: 201, body: placed.body)
        return placed.response
    }

    static let keyInProgress = APIError.conflict(
        "a request with this Idempotency-Key is still being processed; retry later",
        code: "idempotency_key_in_progress"
    )

    /// The order as the answer to a repeated request.
    static func replay(_ order: Order) throws -> Response {
        let body = String(decoding: try StorefrontJSON.encoder().encode(OrderResponse(order)), as: UTF8.self)
        return Self.jsonResponse(status: 201, body: body, replayed: true)
    }

    struct Placed {
        var body: String
        var response: Response { OrderController.jsonResponse(status: 201, body: self.body, replayed: false) }
    }

    /// The placement itself. The order id (the caller's choice) is recorded as a placement first; the cart is checked
    /// out under it (so a second `POST /order` for the same lines gets 409 `checkout_in_progress`); then prices, the
    /// stock reservation, and the order stored with its `order-placed` event in the transaction that ends the
    /// placement; then the charge, whose answer confirms the order (or fails it) at once; a charge the payment service
    /// only accepted (202) leaves it pending for the payment event. A failure before the order is stored rejects the
    /// placement (`order-rejected`: the cart gets its lines back, inventory releases what it reserved for the order)
    /// and is answered as an error; from the stored order on, every outcome is an order in a defined state (201).
    private func place(
        orderID: MongoObjectID,
        userID: String,
        address: String,
        paymentInfo: String,
        context: ServiceRequestContext
    ) async throws -> Placed {
        guard try await self.peers.users.exists(userID) else {
            throw APIError(.notFound, code: "user_not_found", message: "user not found")
        }
        var logger = context.logger
        logger[metadataKey: "order.id"] = "\(orderID.hex)"
        try await self.repository.beginPlacement(orderID: orderID.hex, userID: userID)

        let cart: [CartClient.Line]
        do {
            switch try await self.peers.carts.checkout(userID: userID, orderID: orderID.hex) {
            case .checkedOut(let lines):
                cart = lines
            case .empty:
                try? await self.repository.forgetPlacement(orderID: orderID.hex)
                throw APIError(.badRequest, code: "cart_empty", message: "Cart is empty or not found")
            case .inProgress(let pending):
                try? await self.repository.forgetPlacement(orderID: orderID.hex)
                throw APIError(
                    .conflict,
                    code: "checkout_in_progress",
                    message: "the cart's lines are already being ordered by order \(pending)",
                    details: ["orderId": pending]
                )
            }
        } catch let error as APIError {
            throw error
        } catch {
            // The checkout may or may not have happened: reject, which releases it if it did.
            await self.reject(orderID: orderID.hex, userID: userID, reason: "cart service unavailable")
            throw error
        }

        var reservationID: String?
        let stored: Order
        do {
            let (lines, totalCents) = try await self.priced(cart)
            let reservation: String
            switch try await self.peers.inventory.reserve(
                orderID: orderID.hex,
                items: lines.map { .init(productId: $0.productId, quantity: $0.quantity) }
            ) {
            case .insufficient(let message):
                throw APIError.conflict(message, code: "insufficient_stock")
            case .reserved(let id):
                reservation = id
            }
            reservationID = reservation  // for the failure paths below
            let millis = Date().epochMilliseconds
            stored = Order(
                id: orderID,
                userId: userID,
                products: lines,
                address: address,
                status: .pending,
                createdAt: Date(timeIntervalSince1970: Double(millis) / 1000),
                total: Double(totalCents) / 100,
                reservationId: reservation,
                totalCents: totalCents,
                createdAtMs: millis,
                updatedAt: millis
            )
            try await self.repository.place(stored)
        } catch is OrderRepository.PlacementLost {
            // Too slow: the sweeper rejected the placement (the checkout is released) before the order was stored.
            // Its `order-rejected` releases the stock, also when it reached inventory before this request reserved
            // (inventory then remembers the order as withdrawn and this reservation held nothing); withdrawing here
            // only makes it immediate.
            if let reservationID { await self.peers.withdrawReservationLater(reservationID) }
            throw APIError.unavailable("placing the order took too long; try again", code: "order_timeout")
        } catch {
            let reason = (error as? APIError)?.message ?? "a dependency was unavailable"
            await self.reject(orderID: orderID.hex, userID: userID, reason: reason, reservationID: reservationID)
            throw error
        }
        logger.info("order stored; charging", metadata: ["reservation.id": "\(stored.reservationId)"])

        let outcome = await self.peers.pay(
            .init(
                orderId: orderID.hex,
                userId: userID,
                reservationId: stored.reservationId,
                amount: stored.total,
                paymentInfo: paymentInfo
            ),
            attempts: self.settings.paymentAttempts
        )
        // The state the answer shows: the transition made here, else the order as stored now.
        var settled: Order?
        switch outcome {
        case .charged:
            // The charge's answer is its outcome: confirm now, so the client's answer is final and the confirmation
            // does not wait for the event (the payment-events success then finds the order confirmed).
            settled = try? await self.repository.transition(orderID, from: [.pending], to: .confirmed)
            if settled != nil { logger.info("order confirmed") }
        case .accepted:
            break  // the payment service settles the charge later: its payment-events event settles the order
        case .declined(let reason), .rejected(let reason), .unavailable(let reason):
            let why: String
            switch outcome {
            case .declined: why = "payment declined: \(reason)"
            case .rejected: why = "payment refused: \(reason)"
            default: why = "payment service unavailable"
            }
            logger.warning("order failed at payment", metadata: ["reason": "\(reason)"])
            // `order-failed` makes inventory release the stock; withdrawing it here too means the answer already
            // finds it back on sale.
            settled = try? await self.repository.transition(orderID, from: [.pending], to: .failed, reason: why)
            if settled != nil { await self.peers.withdrawReservationLater(stored.reservationId) }
        }
        var current = stored
        if let settled {
            current = settled
        } else if let found = try? await self.repository.find(orderID.hex) {
            current = found
        }
        let body = String(decoding: try StorefrontJSON.encoder().encode(OrderResponse(current)), as: UTF8.self)
        return Placed(body: body)
    }

    /// The checked-out lines at the product service's current prices (asked in parallel), and the total in cents.
    /// - Throws: 400 `product_unavailable` for a product no longer for sale.
    private func priced(_ cart: [CartClient.Line]) async throws -> ([OrderLine], Int64) {
        let peers = self.peers
        let prices = try await withThrowingTaskGroup(of: (String, Double?).self) { group in
            for line in cart { group.addTask { (line.productId, try await peers.products.price(line.productId)) } }
            return try await group.reduce(into: [String: Double]()) { $0[$1.0] = $1.1 }
        }
        var lines: [OrderLine] = []
        var totalCents: Int64 = 0
        for line in cart {
            guard let price = prices[line.productId], price > 0 else {
                throw APIError(
                    .badRequest,
                    code: "product_unavailable",
                    message: "product \(line.productId) is no longer for sale"
                )
            }
            let cents = Int64((price * 100).rounded())
            totalCents += cents * Int64(line.quantity)
            lines.append(OrderLine(productId: line.productId, quantity: line.quantity, price: Double(cents) / 100))
        }
        return (lines, totalCents)
    }

    /// Ends a placement without an order (``OrderRepository/reject(orderID:userID:reason:)``) and, if that happened
    /// here, withdraws its stock reservation at once (its `order-rejected` event makes inventory release it anyway).
    /// When the placement was already ended, the order may have been stored after all (a commit whose answer was
    /// lost): its reservation is then the order's, and is left alone. Best effort: what fails here is done by the
    /// sweeper once the placement is old enough.
    private func reject(orderID: String, userID: String, reason: String, reservationID: String? = nil) async {
        do {
            guard try await self.repository.reject(orderID: orderID, userID: userID, reason: reason) != nil else {
                return
            }
            if let reservationID { await self.peers.withdrawReservationLater(reservationID) }
        } catch {
            self.peers.logger.warning(
                "placement not rejected now; the sweeper will",
                metadata: ["order.id": "\(orderID)", "error": "\(error)"]
            )
        }
    }

    // MARK: GET

    @Sendable
    func get(request: Request, context: ServiceRequestContext) async throws -> OrderResponse {
        let identity = try context.requireIdentity()
        let id = try Self.objectID(context.parameters.get("id"), name: "order id")
        guard let order = try await self.repository.find(id), identity.mayAccess(userID: order.userId) else {
            throw APIError.notFound("order")
        }
        return OrderResponse(order)
    }

    struct OrderList: ResponseEncodable {
        var orders: [OrderResponse]
        func encode(to encoder: any Encoder) throws { try self.orders.encode(to: encoder) }
    }

    @Sendable
    func listForUser(request: Request, context: ServiceRequestContext) async throws -> OrderList {
        let userID = try Self.objectID(context.parameters.get("userId"), name: "userId")
        _ = try context.requireAccess(toUser: userID)
        return OrderList(orders: try await self.repository.list(userID: userID).map(OrderResponse.init))
    }

    /// `GET /order?status=&limit=&offset=`: every customer's orders, newest first, for the staff (admins only).
    /// `status` is one of the order states (absent or empty: all); `limit` 1–200 (default 50), `offset` ≥ 0 (default 0).
    /// - Throws: 400 `invalid_query` naming the parameter, 401, 403.
    @Sendable
    func list(request: Request, context: ServiceRequestContext) async throws -> OrderList {
        _ = try context.requireRole(.admin)
        let parameters = QueryParameters(query: request.uri.query)
        var status: OrderStatus?
        if let text = try parameters.single("status"), !text.isEmpty {
            guard let value = OrderStatus(rawValue: text) else {
                let names = OrderStatus.allCases.map(\.rawValue).joined(separator: ", ")
                throw QueryParameters.invalid("status must be one of \(names)")
            }
            status = value
        }
        let page = try parameters.page()
        let orders = try await self.repository.list(status: status, limit: page.limit, offset: page.offset)
        return OrderList(orders: orders.map(OrderResponse.init))
    }

    // MARK: POST /order/{id}/cancel

    /// pending → `cancelled` (reservation released); confirmed → `refunded` (payment refunded, then the sold units put
    /// back on sale); 409 otherwise. A confirmed order's steps are each idempotent, so a cancel answered 503 midway
    /// completes when retried.
    ///
    /// A crash midway loses nothing: `order-cancelled` is written with the state change, and inventory releases the
    /// held stock on it. A confirmed order's units come back before its state changes, and a crash after its refund
    /// is completed by the refund's own `payment-events` record (the consumer moves it to `refunded` and withdraws the
    /// units, retrying until inventory has done it).
    @Sendable
    func cancel(request: Request, context: ServiceRequestContext) async throws -> OrderResponse {
        let identity = try context.requireIdentity()
        let id = try Self.objectID(context.parameters.get("id"), name: "order id")
        guard var order = try await self.repository.find(id),
            identity.role == .admin || identity.userID.lowercased() == order.userId
        else { throw APIError.notFound("order") }
        if identity.role == .service { throw AuthError.forbidden }
        switch order.status {
        case .pending:
            if let cancelled = try await self.repository.transition(order.id, from: [.pending], to: .cancelled) {
                await self.peers.withdrawReservationLater(cancelled.reservationId)  // at once; order-cancelled too
                // A charge whose event has not arrived yet is given back now; a later one by the event consumer.
                do {
                    try await self.peers.refundAll(orderID: id)
                } catch {
                    context.logger.warning(
                        "cancelled order: payments not checked for refunds",
                        metadata: ["order.id": "\(id)", "error": "\(error)"]
                    )
                }
                context.logger.info("order cancelled", metadata: ["order.id": "\(id)"])
                return OrderResponse(cancelled)
            }
        case .confirmed:
            try await self.peers.refundAll(orderID: id)
            try await self.peers.withdrawReservation(order.reservationId)
            if let refunded = try await self.repository.transition(order.id, from: [.confirmed], to: .refunded) {
                context.logger.info("order refunded; its stock is back on sale", metadata: ["order.id": "\(id)"])
                return OrderResponse(refunded)
            }
            // The refund's own `payment-events` record may have moved it already.
            if let current = try await self.repository.find(id), current.status == .refunded {
                return OrderResponse(current)
            }
        default:
            break
        }
        // Final already, or changed under us (a concurrent cancel or an event won): report the current state.
        order = try await self.repository.find(id) ?? order
        throw APIError.conflict(
            "the order is \(order.status.rawValue) and can no longer be cancelled",
            code: "invalid_state"
        )
    }

    // MARK: POST /order/{id}/ship, /deliver

    struct ShipRequest: Decodable {
        var carrier: String?
        var trackingNumber: String?
    }

    /// confirmed → `shipped` with the carrier and tracking number (`order-shipped`; the customer is notified). A repeat
    /// with the same details answers the shipped order; 409 `invalid_state` from any other state.
    @Sendable
    func ship(request: Request, context: ServiceRequestContext) async throws -> OrderResponse {
        _ = try context.requireRole(.admin)
        let id = try Self.objectID(context.parameters.get("id"), name: "order id")
        let body = try await request.decode(as: ShipRequest.self, context: context)
        let carrier = try Self.shippingField(body.carrier, name: "carrier")
        let tracking = try Self.shippingField(body.trackingNumber, name: "trackingNumber")
        guard let objectID = MongoObjectID(id), let order = try await self.repository.find(id) else {
            throw APIError.notFound("order")
        }
        let details: MongoDocument = [
            "carrier": .string(carrier), "trackingNumber": .string(tracking),
            "shippedAtMs": .int(Date().epochMilliseconds),
        ]
        if let shipped = try await self.repository.transition(objectID, from: [.confirmed], to: .shipped, set: details)
        {
            context.logger.info("order shipped", metadata: ["order.id": "\(id)", "carrier": "\(carrier)"])
            return OrderResponse(shipped)
        }
        let current = try await self.repository.find(id) ?? order
        if current.status == .shipped, current.carrier == carrier, current.trackingNumber == tracking {
            return OrderResponse(current)
        }
        throw APIError.conflict("the order is \(current.status.rawValue) and cannot be shipped", code: "invalid_state")
    }

    /// shipped → `delivered` (`order-delivered`; the customer is notified). A repeat answers the delivered order; 409
    /// `invalid_state` from any other state.
    @Sendable
    func deliver(request: Request, context: ServiceRequestContext) async throws -> OrderResponse {
        _ = try context.requireRole(.admin)
        let id = try Self.objectID(context.parameters.get("id"), name: "order id")
        guard let objectID = MongoObjectID(id), let order = try await self.repository.find(id) else {
            throw APIError.notFound("order")
        }
        let details: MongoDocument = ["deliveredAtMs": .int(Date().epochMilliseconds)]
        if let delivered = try await self.repository.transition(
            objectID,
            from: [.shipped],
            to: .delivered,
            set: details
        ) {
            context.logger.info("order delivered", metadata: ["order.id": "\(id)"])
            return OrderResponse(delivered)
        }
        let current = try await self.repository.find(id) ?? order
        guard current.status == .delivered else {
            throw APIError.conflict(
                "the order is \(current.status.rawValue) and cannot be delivered",
                code: "invalid_state"
            )
        }
        return OrderResponse(current)
    }

    /// A carrier or tracking number: 1 to 200 characters after trimming; 400 `validation_failed` otherwise.
    static func shippingField(_ value: String?, name: String) throws -> String {
        let text = (value ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.utf8.count <= 200 else {
            throw APIError.validation("\(name) is required (at most 200 characters)")
        }
        return text
    }

    // MARK: -

    static var canonicalEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func jsonResponse(status: Int, body: String, replayed: Bool) -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if replayed { headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }

    /// A 24-hex id, lower-cased; 400 `invalid_id` otherwise.
    static func objectID(_ value: String?, name: String) throws -> String {
        try MongoObjectID.fromRequest(value, name: name).hex
    }
}
