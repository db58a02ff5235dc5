import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import Logging
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import StorefrontContracts
import TestSupport
import Testing

@testable import InventoryService

/// Builds inventory applications against the real dev store and broker.
enum InventoryTests {
    static func newID() -> String { MongoObjectID().hex }

    /// A runtime and application with a unique consumer group (the `payment-events` topic is shared).
    static func makeApp(
        _ overrides: [String: String] = [:]
    ) async throws -> (ServiceRuntime, some ApplicationProtocol) {
        let runtime = try await TestRuntimes.make(
            .inventory,
            overrides: ["outbox.poll.interval.ms": "100", "reservation.sweep.interval.ms": "200"].merging(overrides) {
                $1
            }
        )
        let app = try await InventoryService.buildApplication(
            runtime,
            consumerGroups: .init(
                payments: TestEnvironment.uniqueName("inventory-payments"),
                orders: TestEnvironment.uniqueName("inventory-orders")
            )
        )
        return (runtime, app)
    }

    static func ledger(_ runtime: ServiceRuntime) -> StockLedger { StockLedger(store: runtime.store) }

    static func reservations(_ runtime: ServiceRuntime, ttl: Duration = .seconds(900)) -> Reservations {
        Reservations(store: runtime.store, ledger: self.ledger(runtime), ttl: ttl)
    }

    static func auth(_ runtime: ServiceRuntime, role: Role) async throws -> HTTPFields {
        let id = self.newID()
        let token = try await runtime.authority.accessToken(
            for: Identity(userID: id, email: "\(id)@example.com", role: role)
        )
        return [.authorization: "Bearer \(token)", .contentType: "application/json"]
    }

    struct Envelope: Decodable {
        struct Detail: Decodable {
            var code: String
            var message: String
        }
        var error: Detail
    }

    static func errorCode(_ response: TestResponse) -> String {
        (try? JSONDecoder().decode(Envelope.self, from: Data(Array(buffer: response.body))))?.error.code ?? "<none>"
    }

    struct Record: Decodable {
        var _id: String
        var productId: String
        var inventory: Int
        var reserved: Int
        var sold: Int
        var onHand: Int
    }

    struct ReservationBody: Decodable {
        var reservationId: String
        var orderId: String
        var status: String
        var expiresAt: String
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(Array(buffer: response.body)))
    }

    static func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    static func reserveBody(_ orderID: String, _ items: [(String, Int)]) -> ByteBuffer {
        let list = items.map { #"{"productId":"\#($0.0)","quantity":\#($0.1)}"# }.joined(separator: ",")
        return ByteBuffer(string: #"{"orderId":"\#(orderID)","items":[\#(list)]}"#)
    }

    /// Creates a stock record through the ledger (no HTTP).
    static func stock(
        _ runtime: ServiceRuntime,
        _ units: Int,
        product productID: String = newID()
    ) async throws -> String {
        try await self.ledger(runtime).records.insert(
            StockRecord(id: self.newID(), productId: productID, inventory: units, now: Date().epochMilliseconds)
        )
        return productID
    }

    /// The record, checking the invariant `inventory + reserved + sold == received`.
    static func record(
        _ runtime: ServiceRuntime,
        _ productID: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> StockRecord {
        let record = try #require(try await self.ledger(runtime).record(productID), sourceLocation: sourceLocation)
        #expect(record.inventory + record.reserved + record.sold == record.received, sourceLocation: sourceLocation)
        #expect(record.inventory >= 0 && record.reserved >= 0 && record.sold >= 0, sourceLocation: sourceLocation)
        return record
    }

    static func paymentMessage(
        _ reservation: String,
        order: String,
        status: String,
        eventID: String = UUID().uuidString
    )
        -> KafkaBusMessage
    {
        KafkaBusMessage(
            topic: Topics.paymentEvents.name,
            key: order,
            value: Array(
                #"{"orderId":"\#(order)","userId":"u1","reservationId":"\#(reservation)","amount":10.5,"method":"card","status":"\#(status)","timestamp":"2026-01-02T03:04:05Z","eventId":"\#(eventID)"}"#
                    .utf8
            )
        )
    }

    static var logger: Logger { Logger(label: "inventory-tests") }
}
