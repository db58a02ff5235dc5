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
/// | GET | `/order/{id}` | owner, admin, service | 200 order |
/// | GET | `/order/user/{userId}` | owner, admin, service | 200 `[order]`, newest first (`[]` when none) |
/// | POST | `/order/{id}/cancel` | owner, admin | 200 order (`cancelled`, or `refunded` for a confirmed one) |
///
/// Order JSON (the original's keys and order): `{_id, userId, products: [{productId, quantity, price}], address,
/// status, createdAt, total, reservationId}`, plus `failureReason` on a failed order.
/// Errors: 400 `validation_failed` / `invalid_id` / `bad_request` / `cart_empty` / `product_unavailable`, 401, 403,
/// 404 `not_found` / `user_not_found`, 409 `insufficient_stock` / `invalid_state` / `idempotency_key_in_progress`,
/// 422 `idempotency_key_reused`, 502 `dependency_failed`, 503 when a peer or the store is unavailable.
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
        }
    }

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.post("/order", use: self.create)
        group.get("/order/user/:userId", use: self.listForUser)
        group.get("/order/:id", use: self.get)
        group.post("/order/:id/cancel", use: self.cancel)
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
            return try await self.place(userID: userID, address: address, paymentInfo: paymentInfo, context: context)
                .response
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
        let claim = try await self.repository.claim(
            id: keyID,
            hash: fingerprint,
            ttlMillis: self.settings.idempotencyTTL,
            staleMillis: self.settings.idempotencyStaleMillis
        )
        switch claim {
        case .mismatch:
            throw APIError.unprocessable(
                "this Idempotency-Key was used with a different request",
                code: "idempotency_key_reused"
            )
        case .inProgress:
            throw APIError.conflict(
                "a request with this Idempotency-Key is still being processed; retry later",
                code: "idempotency_key_in_progress"
            )
        case .abandoned(let orderID):
            guard let order = try await self.repository.find(orderID) else {
                throw APIError.conflict(
                    "a request with this Idempotency-Key is still being processed; retry later",
                    code: "idempotency_key_in_progress"
                )
            }
            let body = String(decoding: try StorefrontJSON.encoder().encode(OrderResponse(order)), as: UTF8.self)
            return Self.jsonResponse(status: 201, body: body, replayed: true)
        case .replay(let status, let body):
            context.logger.info("idempotent replay of POST /order")
            return Self.jsonResponse(status: status, body: body, replayed: true)
        case .claimed(let owner):
            let placed: Placed
            do {
                placed = try await self.place(
                    userID: userID,
                    address: address,
                    paymentInfo: paymentInfo,
                    context: context
                ) { orderID in
                    try await self.repository.attach(key: keyID, owner: owner, orderID: orderID)
                }
            } catch {
                // Nothing was created (every failure after the order is stored still answers 201): free the key.
                try? await self.repository.release(key: keyID, owner: owner)
                throw error
            }
            try? await self.repository.complete(key: keyID, owner: owner, status: 201, body: placed.body)
            return placed.response
        }
    }

    struct Placed {
        var body: String
        var response: Response { OrderController.jsonResponse(status: 201, body: self.body, replayed: false) }
    }

    /// The placement itself: every check first, then reserve under the order's id, store the order, pay.
    /// Throws only before the order is stored; from then on every outcome is an order in a defined state (201).
    private func place(
        userID: String,
        address: String,
        paymentInfo: String,
        context: ServiceRequestContext,
        orderChosen: (String) async throws -> Void = { _ in }
    ) async throws -> Placed {
        guard try await self.peers.users.exists(userID) else {
            throw APIError(.notFound, code: "user_not_found", message: "user not found")
        }
        let cart = try await self.peers.carts.lines(of: userID)
        guard !cart.isEmpty else {
            throw APIError(.badRequest, code: "cart_empty", message: "Cart is empty or not found")
        }
        // Current prices, in parallel; merge repeated products.
        var quantities: [String: Int] = [:]
        var order: [String] = []
        for line in cart {
            if quantities[line.productId] == nil { order.append(line.productId) }
            quantities[line.productId, default: 0] += line.quantity
        }
        let peers = self.peers
        let prices = try await withThrowingTaskGroup(of: (String, Double?).self) { group in
            for productID in order { group.addTask { (productID, try await peers.products.price(productID)) } }
            return try await group.reduce(into: [String: Double]()) { $0[$1.0] = $1.1 }
        }
        var lines: [OrderLine] = []
        var totalCents: Int64 = 0
        for productID in order {
            guard let price = prices[productID], price > 0 else {
                throw APIError(
                    .badRequest,
                    code: "product_unavailable",
                    message: "product \(productID) is no longer for sale"
                )
            }
            let quantity = quantities[productID]!
            let cents = Int64((price * 100).rounded())
            totalCents += cents * Int64(quantity)
            lines.append(OrderLine(productId: productID, quantity: quantity, price: Double(cents) / 100))
        }

        let orderID = MongoObjectID()
        try await orderChosen(orderID.hex)
        var logger = context.logger
        logger[metadataKey: "order.id"] = "\(orderID.hex)"
        let reservationID: String
        switch try await self.peers.inventory.reserve(
            orderID: orderID.hex,
            items: lines.map { .init(productId: $0.productId, quantity: $0.quantity) }
        ) {
        case .insufficient(let message):
            throw APIError.conflict(message, code: "insufficient_stock")
        case .reserved(let id):
            reservationID = id
        }
        let now = Date()
        let millis = now.epochMilliseconds
        var stored = Order(
            id: orderID,
            userId: userID,
            products: lines,
            address: address,
            status: .pending,
            createdAt: Date(timeIntervalSince1970: Double(millis) / 1000),
            total: Double(totalCents) / 100,
            reservationId: reservationID,
            totalCents: totalCents,
            createdAtMs: millis,
            updatedAt: millis
        )
        do {
            try await self.repository.insert(stored)
        } catch {
            await self.peers.withdrawReservationLater(reservationID)
            throw error
        }
        logger.info("order stored; charging", metadata: ["reservation.id": "\(reservationID)"])

        let outcome = await self.peers.pay(
            .init(
                orderId: orderID.hex,
                userId: userID,
                reservationId: reservationID,
                amount: stored.total,
                paymentInfo: paymentInfo
            ),
            attempts: self.settings.paymentAttempts
        )
        switch outcome {
        case .charged:
            break  // the payment-events success confirms it
        case .declined(let reason), .rejected(let reason), .unavailable(let reason):
            let why: String
            switch outcome {
            case .declined: why = "payment declined: \(reason)"
            case .rejected: why = "payment refused: \(reason)"
            default: why = "payment service unavailable"
            }
            logger.warning("order failed at payment", metadata: ["reason": "\(reason)"])
            if (try? await self.repository.transition(orderID, from: [.pending], to: .failed, reason: why)) != nil {
                await self.peers.withdrawReservationLater(reservationID)
            }
        }
        if let current = try? await self.repository.find(orderID.hex) { stored = current }
        let body = String(decoding: try StorefrontJSON.encoder().encode(OrderResponse(stored)), as: UTF8.self)
        return Placed(body: body)
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

    // MARK: POST /order/{id}/cancel

    /// pending → `cancelled` (reservation released); confirmed → `refunded` (payment refunded, then the sold units put
    /// back on sale); 409 otherwise. A confirmed order's steps are each idempotent, so a cancel answered 503 midway
    /// completes when retried.
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
                await self.peers.withdrawReservationLater(cancelled.reservationId)
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
