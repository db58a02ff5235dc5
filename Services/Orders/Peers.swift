import Foundation
import Hummingbird
import Logging
import MongoStore
import ServiceKit

/// The order service's calls to its peers, all through ``ServiceClient`` (deadline `HTTP_CLIENT_TIMEOUT_MS`, request
/// id, service token). An unreachable peer throws `ServiceClientError(.unavailable)` (answered 503); an answer outside
/// the peer's contract throws 502 `dependency_failed`. Thread-safe.
struct Peers: Sendable {
    let client: ServiceClient
    let logger: Logger

    // MARK: user, cart, product

    /// `GET {USER_URL}/users/{id}`: exactly 200 means the user exists (contract §11.2).
    func userExists(_ userID: String) async throws -> Bool {
        let response = try await self.client.send(.get, to: .user, path: "/users/\(userID)")
        switch response.status.code {
        case 200: return true
        case 404: return false
        default: throw Self.failed(.user, response)
        }
    }

    struct CartLine: Sendable {
        var productId: String
        var quantity: Int
    }

    /// `GET {CART_URL}/user/{userId}`: the cart's lines (`productId`, `quantity`); `[]` for no cart (404).
    func cart(_ userID: String) async throws -> [CartLine] {
        let response = try await self.client.send(.get, to: .cart, path: "/user/\(userID)")
        switch response.status.code {
        case 200: break
        case 404: return []
        default: throw Self.failed(.cart, response)
        }
        guard case .array(let elements) = try response.decode(JSONValue.self, peer: .cart) else {
            throw Self.failed(.cart, "an answer that is not an array")
        }
        return try elements.map { element in
            guard case .string(let productID)? = element["productId"], MongoObjectID(productID) != nil,
                let quantity = element["quantity"]?.numberValue, quantity >= 1, quantity <= 1_000_000,
                quantity == quantity.rounded()
            else { throw Self.failed(.cart, "a cart line without a valid productId and quantity") }
            return CartLine(productId: productID.lowercased(), quantity: Int(quantity))
        }
    }

    /// `GET {PRODUCT_URL}/get/{productId}` → `product.price` (the current price; the cart's is never trusted);
    /// `nil` when the product does not exist.
    func price(_ productID: String) async throws -> Double? {
        let response = try await self.client.send(.get, to: .product, path: "/get/\(productID)")
        switch response.status.code {
        case 200: break
        case 404: return nil
        default: throw Self.failed(.product, response)
        }
        guard let price = try response.decode(JSONValue.self, peer: .product)["product"]?["price"]?.numberValue,
            price.isFinite
        else { throw Self.failed(.product, "a product without a numeric price") }
        return price
    }

    /// `DELETE {CART_URL}/delete/{userId}`: empties the cart after a confirmed order. Best effort: logged.
    func clearCart(_ userID: String) async {
        do {
            let response = try await self.client.send(.delete, to: .cart, path: "/delete/\(userID)")
            if response.status.code >= 300 && response.status.code != 404 {
                self.logger.warning(
                    "could not clear the cart after an order",
                    metadata: ["user.id": "\(userID)", "status": "\(response.status.code)"]
                )
            }
        } catch {
            self.logger.warning(
                "could not clear the cart after an order",
                metadata: ["user.id": "\(userID)", "error": "\(error)"]
            )
        }
    }

    // MARK: inventory

    struct ReserveItem: Codable, Sendable {
        var productId: String
        var quantity: Int
    }

    enum ReserveOutcome: Sendable {
        case reserved(reservationID: String)
        case insufficient(message: String)
    }

    /// `POST {INVENTORY_URL}/reserve {orderId, items}` under the order's own id (idempotent per order id there).
    func reserve(orderID: String, items: [ReserveItem]) async throws -> ReserveOutcome {
        struct Body: Encodable, Sendable {
            var orderId: String
            var items: [ReserveItem]
        }
        let response = try await self.client.send(
            .post,
            to: .inventory,
            path: "/reserve",
            body: Body(orderId: orderID, items: items)
        )
        switch response.status.code {
        case 200, 201:
            guard case .string(let id)? = try response.decode(JSONValue.self, peer: .inventory)["reservationId"],
                !id.isEmpty
            else { throw Self.failed(.inventory, "a reservation without reservationId") }
            return .reserved(reservationID: id)
        case 409:
            let message = (try? response.decode(JSONValue.self, peer: .inventory))?["error"]?["message"]
            if case .string(let text)? = message { return .insufficient(message: text) }
            return .insufficient(message: "insufficient stock")
        case 503:
            throw ServiceClientError(.unavailable, peer: .inventory, detail: "POST /reserve answered 503")
        default:
            throw Self.failed(.inventory, response)
        }
    }

    /// `POST {INVENTORY_URL}/reservations/{id}/cancel`: the order will not go ahead, so inventory puts the
    /// reservation's stock back on sale (held or already sold) and sells nothing for it on a later payment success.
    /// Idempotent there. An unknown reservation (404) holds nothing: logged, not thrown.
    /// - Throws: `ServiceClientError(.unavailable)` when inventory cannot do it now (try again later); 502 for an
    ///   answer outside its contract.
    func withdrawReservation(_ reservationID: String) async throws {
        guard !reservationID.isEmpty else { return }
        let response = try await self.client.send(.post, to: .inventory, path: "/reservations/\(reservationID)/cancel")
        if response.status.code == 404 {
            self.logger.warning(
                "withdrawn reservation unknown to inventory",
                metadata: ["reservation.id": "\(reservationID)"]
            )
            return
        }
        try Self.check(response, from: .inventory)
    }

    /// ``withdrawReservation(_:)`` where the caller cannot wait: a failure is logged. The reservation's expiry then
    /// gives held stock back, and a late payment success for the order is withdrawn by the payment-events consumer.
    func withdrawReservationLater(_ reservationID: String) async {
        do {
            try await self.withdrawReservation(reservationID)
        } catch {
            self.logger.warning(
                "reservation not withdrawn now; its expiry or the payment-events consumer will",
                metadata: ["reservation.id": "\(reservationID)", "error": "\(error)"]
            )
        }
    }

    // MARK: payment

    struct PaymentRequest: Encodable, Sendable {
        var orderId: String
        var userId: String
        var reservationId: String
        var amount: Double
        var paymentInfo: String
    }

    enum PaymentOutcome: Sendable, Equatable {
        /// 201/200 with a successful payment: the `payment-events` success confirms the order.
        case charged
        /// 402 (or an existing failed payment): final.
        case declined(String)
        /// 503, a timeout or no connection, after every attempt: outcome unknown on the payment side.
        case unavailable(String)
        /// Any other answer (404 `order_not_found`, 422 `amount_mismatch` …): nothing charged.
        case rejected(String)
    }

    /// `POST {PAYMENT_URL}/payments`, retrying transient failures (503, timeout, unreachable) `attempts` times with
    /// exponential backoff (200 ms, 400 ms, …). Safe to retry: the payment service charges an order at most once.
    func pay(_ request: PaymentRequest, attempts: Int) async -> PaymentOutcome {
        var last = "not attempted"
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(200 << min(attempt - 1, 5))) }
            do {
                let response = try await self.client.send(.post, to: .payment, path: "/payments", body: request)
                let code = response.status.code
                let json = try? response.decode(JSONValue.self, peer: .payment)
                switch code {
                case 200, 201, 202:
                    if case .string(let status)? = json?["status"], status.lowercased() != "success" {
                        return .declined("payment \(status)")
                    }
                    return .charged
                case 402:
                    return .declined(Self.errorCode(json) ?? "card_declined")
                case 503, 502, 504:
                    last = "payment service answered \(code)"
                default:
                    return .rejected("payment service answered \(code) \(Self.errorCode(json) ?? "")")
                }
            } catch {
                last = "\(error)"
            }
            self.logger.warning(
                "payment attempt failed",
                metadata: ["order.id": "\(request.orderId)", "attempt": "\(attempt + 1)", "error": "\(last)"]
            )
        }
        return .unavailable(last)
    }

    /// The order's payments (`GET {PAYMENT_URL}/payments?orderId=`), each the payment JSON.
    func payments(orderID: String) async throws -> [JSONValue] {
        let response = try await self.client.send(.get, to: .payment, path: "/payments?orderId=\(orderID)")
        try Self.check(response, from: .payment)
        guard case .array(let payments) = try response.decode(JSONValue.self, peer: .payment) else {
            throw Self.failed(.payment, "a payment list that is not an array")
        }
        return payments
    }

    /// Refunds what is left of every successful payment of the order (`POST /payments/{id}/refund`, also after a
    /// partial refund). Returns how many were refunded. Safe to repeat: the refund's key makes it happen once.
    /// - Throws: `ServiceClientError(.unavailable)` when the payment service cannot be asked now; 502 when it refuses.
    @discardableResult
    func refundAll(orderID: String) async throws -> Int {
        var refunded = 0
        for payment in try await self.payments(orderID: orderID) {
            guard case .string(let status)? = payment["status"],
                ["success", "partially_refunded"].contains(status.lowercased()),
                case .string(let id)? = payment["_id"]
            else { continue }
            struct Empty: Encodable, Sendable {}
            // One key per order and payment: a cancel racing the payment-events consumer refunds once.
            let response = try await self.client.send(
                .post,
                to: .payment,
                path: "/payments/\(id)/refund",
                body: Empty(),
                headers: [("Idempotency-Key", "order-\(orderID)-refund-\(id)")]
            )
            try Self.check(response, from: .payment)
            refunded += 1
        }
        return refunded
    }

    /// Whether the order has a successful payment: `true`, `false` (none or only failed ones).
    func hasSuccessfulPayment(orderID: String) async throws -> Bool {
        try await self.payments(orderID: orderID).contains { payment in
            if case .string(let status)? = payment["status"] { return status.lowercased() == "success" }
            return false
        }
    }

    // MARK: -

    private static func errorCode(_ json: JSONValue?) -> String? {
        if case .string(let code)? = json?["error"]?["code"] { return code }
        return nil
    }

    /// Accepts a 2xx answer; throws `ServiceClientError(.unavailable)` for 502/503/504 (worth retrying) and 502
    /// `dependency_failed` for anything else.
    static func check(_ response: ServiceClient.Response, from peer: StorefrontService) throws {
        switch response.status.code {
        case 200..<300: return
        case 502, 503, 504:
            throw ServiceClientError(.unavailable, peer: peer, detail: "answered \(response.status.code)")
        default: throw Self.failed(peer, response)
        }
    }

    static func failed(_ peer: StorefrontService, _ response: ServiceClient.Response) -> APIError {
        self.failed(peer, "status \(response.status.code)")
    }

    static func failed(_ peer: StorefrontService, _ what: String) -> APIError {
        APIError(.badGateway, code: "dependency_failed", message: "\(peer.executableName) answered with \(what)")
    }
}
