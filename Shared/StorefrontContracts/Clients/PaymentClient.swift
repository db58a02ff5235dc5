import HTTPTypes
package import ServiceKit

/// The payment service's routes other services call, on ``ServiceClient``. Unexpected answers follow
/// ``PeerAnswer``. Thread-safe.
package struct PaymentClient: Sendable {
    /// `POST /payments` body.
    package struct Charge: Encodable, Sendable {
        package var orderId: String
        package var userId: String
        package var reservationId: String
        package var amount: Double
        package var paymentInfo: String

        package init(orderId: String, userId: String, reservationId: String, amount: Double, paymentInfo: String) {
            self.orderId = orderId
            self.userId = userId
            self.reservationId = reservationId
            self.amount = amount
            self.paymentInfo = paymentInfo
        }
    }

    /// What one `POST /payments` answered.
    package enum ChargeOutcome: Sendable, Equatable {
        /// 200/201 with a successful payment: the charge happened.
        case charged
        /// 202: the payment service took the charge and settles it later; its `payment-events` event tells how.
        case accepted
        /// 402, or a stored payment that is not a success: final.
        case declined(String)
        /// Any other 4xx (404 `order_not_found`, 422 `amount_mismatch` …): nothing charged.
        case rejected(String)
    }

    private let client: ServiceClient

    package init(_ client: ServiceClient) {
        self.client = client
    }

    /// `POST /payments`: charges the order at most once (the payment service keys charges by order).
    /// - Throws: ``ServiceClientError`` `.unavailable` for a 5xx answer, a timeout or no connection: the outcome is
    ///   unknown, and asking again is safe.
    package func charge(_ charge: Charge) async throws -> ChargeOutcome {
        let response = try await self.client.send(.post, to: .payment, path: "/payments", body: charge)
        let json = try? response.decode(JSONValue.self, peer: .payment)
        switch response.status.code {
        case 200, 201, 202:
            if case .string(let status)? = json?["status"], status.lowercased() != "success" {
                return .declined("payment \(status)")
            }
            return response.status.code == 202 ? .accepted : .charged
        case 402:
            return .declined(Self.errorCode(json) ?? "card_declined")
        case 500...:
            throw PeerAnswer.unexpected(response, from: .payment, "POST /payments")
        default:
            return .rejected("payment service answered \(response.status.code) \(Self.errorCode(json) ?? "")")
        }
    }

    /// `GET /payments?orderId=`: the order's payments, each the payment JSON.
    package func payments(orderID: String) async throws -> [JSONValue] {
        let call = "GET /payments?orderId="
        let response = try await self.client.send(.get, to: .payment, path: "/payments?orderId=\(orderID)")
        guard (200..<300).contains(response.status.code) else {
            throw PeerAnswer.unexpected(response, from: .payment, call)
        }
        guard case .array(let payments) = try response.decode(JSONValue.self, peer: .payment) else {
            throw PeerAnswer.invalid(from: .payment, call, "a payment list that is not an array")
        }
        return payments
    }

    /// `POST /payments/{id}/refund` of what is left of the payment, once per `idempotencyKey`.
    package func refund(paymentID: String, idempotencyKey: String) async throws {
        struct Empty: Encodable, Sendable {}
        let response = try await self.client.send(
            .post,
            to: .payment,
            path: "/payments/\(paymentID)/refund",
            body: Empty(),
            headers: [("Idempotency-Key", idempotencyKey)]
        )
        guard (200..<300).contains(response.status.code) else {
            throw PeerAnswer.unexpected(response, from: .payment, "POST /payments/{id}/refund")
        }
    }

    private static func errorCode(_ json: JSONValue?) -> String? {
        if case .string(let code)? = json?["error"]?["code"] { return code }
        return nil
    }
}
