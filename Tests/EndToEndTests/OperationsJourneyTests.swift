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
            let line = errors.first { $0.contains(#"error_type="\#(status)""#) }
            let count = line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
            #expect(count >= 1, "no \(status) in:\n\(errors.joined(separator: "\n"))")
        }
    }

    @Test("/metrics shows the system: process figures, outbox backlog, consumers, orders and reservations by state")
    func systemMetrics() async throws {
        func series(_ service: Shop.Service) async throws -> [String: Double] {
            let text = try await Shop.call(.GET, service, "/metrics").text
            var values: [String: Double] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                    continue
                }
                values[String(line[..<space])] = value
            }
            return values
        }
        let order = try await series(.order)
        #expect((order["process_resident_memory_bytes"] ?? 0) > 1_000_000, "\(order.keys.sorted())")
        #expect((order["process_cpu_seconds_total"] ?? 0) > 0)
        #expect((order["process_threads"] ?? 0) >= 2)
        #expect((order["process_open_fds"] ?? 0) >= 3)
        #expect(order["storefront_outbox_backlog"] != nil)
        #expect(order["storefront_outbox_oldest_age_seconds"] != nil)
        for status in ["pending", "confirmed", "failed", "cancelled", "refunded", "shipped", "delivered"] {
            #expect(order[#"storefront_orders{status="\#(status)"}"#] != nil, "no orders gauge for \(status)")
        }
        let consumer = #"{group="order-service-payment-group",topic="payment-events"}"#
        #expect(order["storefront_events_handled_total" + consumer] != nil, "\(order.keys.sorted())")
        #expect(order["storefront_events_dead_lettered_total" + consumer] != nil)
        let inventory = try await series(.inventory)
        for state in ["PENDING", "COMMITTED", "CANCELLED", "EXPIRED"] {
            #expect(
                inventory[#"storefront_reservations{state="\#(state)"}"#] != nil,
                "no reservations gauge for \(state)"
            )
        }
    }
}
