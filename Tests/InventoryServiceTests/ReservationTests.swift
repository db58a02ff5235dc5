import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import MongoStore
import ServiceAuth
import ServiceKit
import Synchronization
import TestSupport
import Testing

@testable import InventoryService

@Suite(.timeLimit(.minutes(3)))
struct ReservationTests {
    @Test("40 concurrent reservations of 1 against 10 in stock: exactly 10 succeed, the 30 others hold nothing")
    func noOversell() async throws {
        let (runtime, app) = try await InventoryTests.makeApp()
        let service = try await InventoryTests.auth(runtime, role: .service)
        let product = try await InventoryTests.stock(runtime, 10)
        try await app.test(.router) { client in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        try await client.execute(
                            uri: "/reserve",
                            method: .post,
                            headers: service,
                            body: InventoryTests.reserveBody("order-\(index)", [(product, 1)])
                        ) { $0.status }
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 10)
            #expect(statuses.filter { $0 == .conflict }.count == 30)
            let record = try await InventoryTests.record(runtime, product)
            #expect(record.inventory == 0 && record.reserved == 10 && record.sold == 0)
            #expect(record.inventory + record.reserved + record.sold == 10)
            // Only the 10 winners have a reservation; the losers left none behind.
            #expect(try await InventoryTests.reservations(runtime).collection.count() == 10)
            #expect(record.movements.values.filter { $0 == "held" }.count == 10)
        }
    }

    @Test("a two-item reservation whose second item is short leaves the first item's stock untouched")
    func allOrNothing() async throws {
        let (runtime, app) = try await InventoryTests.makeApp()
        let service = try await InventoryTests.auth(runtime, role: .service)
        let first = try await InventoryTests.stock(runtime, 5)
        let second = try await InventoryTests.stock(runtime, 1)
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/reserve",
                method: .post,
                headers: service,
                body: InventoryTests.reserveBody("order-short", [(first, 3), (second, 2)])
            ) { response in
                #expect(response.status == .conflict)
                #expect(InventoryTests.errorCode(response) == "insufficient_stock")
                #expect(String(buffer: response.body).contains(second))
            }
            let a = try await InventoryTests.record(runtime, first)
            let b = try await InventoryTests.record(runtime, second)
            #expect(a.inventory == 5 && a.reserved == 0)
            #expect(b.inventory == 1 && b.reserved == 0)
            #expect(try await InventoryTests.reservations(runtime).collection.count() == 0)
            // The same order may try again once stock allows.
            try await client.execute(
                uri: "/reserve",
                method: .post,
                headers: service,
                body: InventoryTests.reserveBody("order-short", [(first, 3), (second, 1)])
            ) { #expect($0.status == .created) }
            #expect(try await InventoryTests.record(runtime, first).reserved == 3)
            #expect(try await InventoryTests.record(runtime, second).inventory == 0)
        }
    }

    @Test("the same orderId reserved twice, and 20 times concurrently, holds stock once")
    func sameOrderOnce() async throws {
        let (runtime, app) = try await InventoryTests.makeApp()
        let service = try await InventoryTests.auth(runtime, role: .service)
        let product = try await InventoryTests.stock(runtime, 10)
        try await app.test(.router) { client in
            var firstID = ""
            try await client.execute(
                uri: "/reserve",
                method: .post,
                headers: service,
                body: InventoryTests.reserveBody("order-a", [(product, 2)])
            ) { response in
                #expect(response.status == .created)
                let body = try InventoryTests.decode(InventoryTests.ReservationBody.self, response)
                #expect(body.status == "PENDING" && body.orderId == "order-a")
                #expect(body.expiresAt.hasSuffix("Z"))
                firstID = body.reservationId
            }
            try await client.execute(
                uri: "/reserve",
                method: .post,
                headers: service,
                body: InventoryTests.reserveBody("order-a", [(product, 2)])
            ) { response in
                #expect(response.status == .ok)
                #expect(
                    (try? InventoryTests.decode(InventoryTests.ReservationBody.self, response))?.reservationId
                        == firstID
                )
            }
            #expect(try await InventoryTests.record(runtime, product).reserved == 2)
            let results = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String).self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        // A waiter that the first request outlasts answers 503 `reservation_busy` (callers ask again).
                        let response = try await retryingWhileBusy("reservation_busy") {
                            try await client.execute(
                                uri: "/reserve",
                                method: .post,
                                headers: service,
                                body: InventoryTests.reserveBody("order-b", [(product, 3)])
                            ) { $0 }
                        }
                        return (
                            response.status,
                            (try? InventoryTests.decode(InventoryTests.ReservationBody.self, response))?.reservationId
                                ?? ""
                        )
                    }
                }
                return try await group.reduce(into: [(HTTPResponse.Status, String)]()) { $0.append($1) }
            }
            #expect(results.filter { $0.0 == .created }.count == 1)
            #expect(results.filter { $0.0 == .ok }.count == 19)
            #expect(Set(results.map(\.1)).count == 1)
            let record = try await InventoryTests.record(runtime, product)
            #expect(record.reserved == 5 && record.inventory == 5)
        }
    }

    @Test("an expired reservation gives its stock back (sweeper)")
    func expiry() async throws {
        let (runtime, app) = try await InventoryTests.makeApp(["reservation.ttl.seconds": "1"])
        let service = try await InventoryTests.auth(runtime, role: .service)
        let product = try await InventoryTests.stock(runtime, 4)
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/reserve",
                method: .post,
                headers: service,
                body: InventoryTests.reserveBody("order-exp", [(product, 3)])
            ) { #expect($0.status == .created) }
            #expect(try await InventoryTests.record(runtime, product).reserved == 3)
            #expect(
                try await eventually {
                    try await InventoryTests.reservations(runtime).find(orderID: "order-exp")?.stock == .released
                }
            )
            let reservation = try #require(try await InventoryTests.reservations(runtime).find(orderID: "order-exp"))
            #expect(reservation.status == .expired)
            let record = try await InventoryTests.record(runtime, product)
            #expect(record.inventory == 4 && record.reserved == 0 && record.sold == 0)
            // Final: a failed payment afterwards changes nothing, and a re-reserve of the order returns it as is.
            #expect(
                try await InventoryTests.reservations(runtime).cancel(id: reservation.id) == .alreadyFinal(.expired)
            )
            try await client.execute(
                uri: "/reserve",
                method: .post,
                headers: service,
                body: InventoryTests.reserveBody("order-exp", [(product, 3)])
            ) {
                #expect($0.status == .ok)
                #expect((try? InventoryTests.decode(InventoryTests.ReservationBody.self, $0))?.status == "EXPIRED")
            }
            #expect(try await InventoryTests.record(runtime, product).inventory == 4)
        }
    }
}
