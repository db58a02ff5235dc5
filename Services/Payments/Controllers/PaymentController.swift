import Foundation
import HTTPTypes
import Hummingbird
import MongoStore
import ServiceAuth
import ServiceKit
import StorefrontContracts

/// The payment service's routes, all behind a bearer token:
/// - `POST /payments` (the order's owner, an admin or a service): charge an order once;
/// - `POST /payments/{id}/refund` (admin or service): full or partial refund;
/// - `GET /payments/{id}`, `GET /payments?orderId=` (owner, admin or service).
struct PaymentController: Sendable {
    let repository: PaymentRepository
    let orders: OrderClient
    let processor: SimulatedProcessor

    func addRoutes(to router: ServiceRouter<ServiceRequestContext>) {
        let protected = router.protected
        protected.post("/payments", use: self.create)
        protected.get("/payments", use: self.list)
        protected.get("/payments/:id", use: self.show)
        protected.post("/payments/:id/refund", use: self.refund)
    }

    // MARK: Bodies

    struct CreateRequest: Decodable {
        var orderId: String?
        var userId: String?
        var reservationId: String?
        var amount: Double?
        var method: String?
        /// What the original order service sends instead of `method`.
        var paymentInfo: String?
    }

    struct RefundRequest: Decodable {
        var amount: Double?
    }

    /// A payment as clients see it: the original's fields plus `reservationId`, `refundedAmount`; `failureReason`
    /// only when it failed.
    struct PaymentResponse: ResponseEncodable, Equatable {
        var id: String
        var orderId: String
        var userId: String
        var reservationId: String
        var amount: Double
        var currency: String
        var method: String
        var status: String
        var refundedAmount: Double
        var gatewayTxnId: String?
        var failureReason: String?
        var createdAt: Date
        var updatedAt: Date

        init(_ payment: Payment) {
            self.id = payment.id.hex
            self.orderId = payment.orderId
            self.userId = payment.userId
            self.reservationId = payment.reservationId
            self.amount = payment.amount
            self.currency = payment.currency
            self.method = payment.method
            self.status = payment.status.rawValue
            self.refundedAmount = payment.refundedAmount
            self.gatewayTxnId = payment.gatewayTxnId
            self.failureReason = payment.status == .failed ? payment.failureReason : nil
            self.createdAt = payment.createdAt
            self.updatedAt = payment.updatedAt
        }

        enum CodingKeys: String, CodingKey {
            case id = "_id"
            case orderId, userId, reservationId, amount, currency, method, status, refundedAmount, gatewayTxnId
            case failureReason, createdAt, updatedAt
        }
    }

    // MARK: Handlers

    /// `POST /payments {orderId, userId, reservationId, amount, method? | paymentInfo?}` → 201 with the new payment,
    /// or 200 with the order's existing successful payment (no second charge, no second event).
    ///
    /// Validates, checks the order (it exists, belongs to `userId`, totals `amount`), claims the order's charge,
    /// asks the processor, and stores the outcome with its `payment-events` record in one transaction.
    /// - Throws: 400 `validation_failed`; 401; 403 (not the owner of `userId`, an admin or a service); 404
    ///   `order_not_found`; 422 `order_mismatch` / `amount_mismatch`; 409 `order_not_payable` (no charge yet and the
    ///   order is not `pending`); 402 `card_declined` (the failed payment is stored and announced); 503
    ///   `processor_unavailable` (nothing stored), `dependency_unavailable`, or `payment_in_progress` when a
    ///   concurrent charge of the order does not settle in time (retry).
    @Sendable func create(
        request: Request,
        context: ServiceRequestContext
    ) async throws -> EditedResponse<PaymentResponse> {
        _ = try context.requireIdentity()
        let body = try await request.decode(as: CreateRequest.self, context: context)
        let orderID = try Self.hexID(body.orderId, "orderId")
        let userID = try Self.hexID(body.userId, "userId")
        let reservationID = try Self.hexID(body.reservationId, "reservationId")
        guard let amount = body.amount else { throw APIError.validation("amount is required") }
        guard let cents = Payment.cents(amount) else {
            throw APIError.validation("amount must be positive with at most two decimals")
        }
        let method = (body.method ?? body.paymentInfo ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard method.utf8.count <= 200 else { throw APIError.validation("method must be at most 200 bytes") }
        _ = try context.requireAccess(toUser: userID)

        guard let order = try await self.orders.order(id: orderID) else {
            throw APIError(.notFound, code: "order_not_found", message: "order \(orderID) not found")
        }
        guard order.userId.lowercased() == userID else {
            throw APIError.unprocessable("the order belongs to another user", code: "order_mismatch")
        }
        guard (order.total * 100).rounded() == Double(cents) else {
            throw APIError.unprocessable(
                "amount \(Payment.dollars(cents)) does not match the order total \(order.total)",
                code: "amount_mismatch"
            )
        }

        let now = Date()
        let claim = Payment(
            id: MongoObjectID(),
            orderId: orderID,
            userId: userID,
            reservationId: reservationID,
            amount: Payment.dollars(cents),
            amountCents: cents,
            currency: "USD",
            method: method,
            status: .processing,
            refundedCents: 0,
            refundedAmount: 0,
            gatewayTxnId: nil,
            failureReason: nil,
            chargeKey: orderID,
            createdAt: now,
            updatedAt: now
        )
        switch try await self.repository.claim(claim) {
        case .charged(let existing):
            return EditedResponse(status: .ok, response: PaymentResponse(existing))
        case .claimed:
            break
        }
        // A new charge only for an order that still waits for one (a repeat of a charged order was answered above).
        if let status = order.status, status.lowercased() != "pending" {
            try await self.repository.release(claim)
            throw APIError.conflict("the order is \(status) and cannot be paid", code: "order_not_payable")
        }

        let outcome: SimulatedProcessor.Outcome
        do {
            outcome = try await self.processor.charge(amountCents: cents, method: method)
        } catch {
            try? await self.repository.release(claim)
            throw error
        }
        do {
            switch outcome {
            case .unavailable:
                try await self.repository.release(claim)
                throw APIError.unavailable(
                    "the payment processor is unavailable; nothing was charged; try again",
                    code: "processor_unavailable"
                )
            case .approved(let txn):
                let payment = try await self.repository.settle(
                    claim,
                    as: .success,
                    gatewayTxnId: txn,
                    failureReason: nil
                )
                return EditedResponse(status: .created, response: PaymentResponse(payment))
            case .declined(let txn, let reason):
                let payment = try await self.repository.settle(
                    claim,
                    as: .failed,
                    gatewayTxnId: txn,
                    failureReason: reason
                )
                throw APIError(
                    .init(code: 402, reasonPhrase: "Payment Required"),
                    code: "card_declined",
                    message: "the card was declined; payment \(payment.id.hex) failed"
                )
            }
        } catch is PaymentRepository.ClaimLost {
            throw APIError.unavailable(
                "the payment took too long and was abandoned; try again",
                code: "payment_abandoned"
            )
        }
    }

    /// `GET /payments/{id}` → 200 with the payment.
    /// - Throws: 400 `invalid_id`, 401, 403 (not the payer, an admin or a service), 404.
    @Sendable func show(request: Request, context: ServiceRequestContext) async throws -> PaymentResponse {
        _ = try context.requireIdentity()
        let id = try Self.paymentID(context)
        guard let payment = try await self.repository.find(id: id) else { throw APIError.notFound("payment") }
        _ = try context.requireAccess(toUser: payment.userId)
        return PaymentResponse(payment)
    }

    /// `GET /payments?orderId=<id>` → 200 with the order's payments, newest first (`[]` when none).
    /// - Throws: 400 (missing or malformed `orderId`), 401, 403 (the order's payments belong to someone else).
    @Sendable func list(request: Request, context: ServiceRequestContext) async throws -> [PaymentResponse] {
        let caller = try context.requireIdentity()
        let orderID = try Self.hexID(request.uri.queryParameters.get("orderId"), "orderId")
        let payments = try await self.repository.list(orderID: orderID)
        for payment in payments where !caller.mayAccess(userID: payment.userId) { throw AuthError.forbidden }
        return payments.map(PaymentResponse.init)
    }

    /// `POST /payments/{id}/refund {amount?}` → 200 with the payment after the refund (`refunded` when nothing is
    /// left, `partially_refunded` otherwise); its `payment-events` record (status `refunded`, the amount refunded)
    /// is written in the same transaction. No body, or no `amount`, refunds everything not yet refunded.
    /// An `Idempotency-Key` header (1 to 100 letters, digits, `-`, `_`) makes it happen at most once: a repeat
    /// answers 200 with the payment as it is.
    /// - Throws: 400, 401, 403 (not an admin or a service), 404, 409 `not_refundable` (not `success` /
    ///   `partially_refunded`), 422 `refund_exceeds_charge`, 422 `idempotency_key_reused` (the key was used for
    ///   another amount).
    @Sendable func refund(request: Request, context: ServiceRequestContext) async throws -> PaymentResponse {
        _ = try context.requireRole(.admin, .service)
        let id = try Self.paymentID(context)
        var cents: Int64?
        let bytes = try await request.body.collect(upTo: 64 * 1024)
        if bytes.readableBytes > 0 {
            let body: RefundRequest
            do {
                body = try JSONDecoder().decode(RefundRequest.self, from: Data(bytes.readableBytesView))
            } catch {
                throw APIError.badRequest("the body must be a JSON object {amount?}")
            }
            if let amount = body.amount {
                guard let value = Payment.cents(amount) else {
                    throw APIError.validation("amount must be positive with at most two decimals")
                }
                cents = value
            }
        }
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let key {
            guard (1...100).contains(key.utf8.count),
                // Also a field name in the payment document: no `.` or `$`.
                key.utf8.allSatisfy({ $0.isASCIIAlphanumeric || "-_".utf8.contains($0) })
            else { throw APIError.validation("Idempotency-Key must be 1 to 100 letters, digits, '-' or '_'") }
        }
        switch try await self.repository.refund(id: id, cents: cents, key: key) {
        case .refunded(let payment):
            return PaymentResponse(payment)
        case .notFound:
            throw APIError.notFound("payment")
        case .notRefundable(let status):
            throw APIError.conflict("a \(status.rawValue) payment cannot be refunded", code: "not_refundable")
        case .exceedsCharge(let remaining):
            throw APIError.unprocessable(
                "the refund exceeds what is left to refund (\(Payment.dollars(remaining)))",
                code: "refund_exceeds_charge"
            )
        case .keyReused:
            throw APIError.unprocessable(
                "this Idempotency-Key was used for a refund of another amount",
                code: "idempotency_key_reused"
            )
        }
    }

    // MARK: Helpers

    /// A 24-hex id in lower case.
    static func hexID(_ text: String?, _ field: String) throws -> String {
        guard let text, let id = MongoObjectID(text) else {
            throw APIError.validation("\(field) must be 24 hexadecimal digits")
        }
        return id.hex
    }

    static func paymentID(_ context: ServiceRequestContext) throws -> MongoObjectID {
        try MongoObjectID.fromRequest(context.parameters.get("id"), name: "the payment id")
    }
}
