import Foundation

/// The payment processor, simulated: no network, no sleeps except the configured latency (`PAYMENT_LATENCY_MS`).
///
/// The method decides the outcome: `card_declined` is declined, `processor_unavailable` is a transient failure
/// (nothing was charged; the caller may retry), anything else is approved.
struct SimulatedProcessor: Sendable {
    enum Outcome: Sendable, Equatable {
        case approved(gatewayTxnId: String)
        case declined(gatewayTxnId: String, reason: String)
        case unavailable
    }

    static let declinedMethod = "card_declined"
    static let unavailableMethod = "processor_unavailable"

    var latency: Duration = .zero

    func charge(amountCents: Int64, method: String) async throws -> Outcome {
        if self.latency > .zero { try await Task.sleep(for: self.latency) }
        let txn = "txn_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        switch method {
        case Self.declinedMethod: return .declined(gatewayTxnId: txn, reason: "card declined by the issuer")
        case Self.unavailableMethod: return .unavailable
        default: return .approved(gatewayTxnId: txn)
        }
    }
}
