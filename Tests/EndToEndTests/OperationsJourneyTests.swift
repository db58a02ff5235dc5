import Foundation
import NIOHTTP1
import ServiceKit
import TestSupport
import Testing

/// What an operator sees of the running processes: part of the end-to-end suite (one stack on the real ports).
extension OrderJourneyTests {
    @Test("/metrics counts client errors: a 401 and an unknown path's 404 appear in hb_request_errors")
    func errorMetrics() async throws {
        let unauthenticated = try await Shop.call(.GET, .order, "/order/user/\(String(repeating: "a", count: 24))")
        #expect(unauthenticated.status == 401, "\(unauthenticated)")
        let unknown = try await Shop.call(.GET, .order, "/no-such-route", token: self.shop.admin.token)
        #expect(unknown.status == 404, "\(unknown)")
        let metrics = try await Shop.call(.GET, .order, "/metrics").text
        let errors = metrics.split(separator: "\n").filter { $0.hasPrefix("hb_request_errors") }
        for status in ["401", "404"] {
            let line = errors.first { $0.contains(#"http_response_status_code="\#(status)""#) }
            let count = line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
            #expect(count >= 1, "no \(status) in:\n\(errors.joined(separator: "\n"))")
        }
    }
}
