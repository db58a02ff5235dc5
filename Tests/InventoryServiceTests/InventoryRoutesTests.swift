import Foundation
import Hummingbird
import HummingbirdTesting
import MongoStore
import ServiceAuth
import ServiceKit
import TestSupport
import Testing

@testable import InventoryService

@Suite(.timeLimit(.minutes(3)))
struct InventoryRoutesTests {
    @Test("create is idempotent per product; get, update and delete follow the stock rules")
    func stockRoutes() async throws {
        let (runtime, app) = try await InventoryTests.makeApp()
        let service = try await InventoryTests.auth(runtime, role: .service)
        let admin = try await InventoryTests.auth(runtime, role: .admin)
        let customer = try await InventoryTests.auth(runtime, role: .customer)
        let product = InventoryTests.newID()
        try await app.test(.router) { client in
            var firstID = ""
            try await client.execute(
                uri: "/create",
                method: .post,
                headers: service,
                body: InventoryTests.body(#"{"productId":"\#(product)","inventory":5}"#)
            ) { response in
                #expect(response.status == .created)
                let record = try InventoryTests.decode(InventoryTests.Record.self, response)
                #expect(record.inventory == 5 && record.reserved == 0 && record.sold == 0 && record.onHand == 5)
                #expect(record.productId == product)
                firstID = record._id
            }
            try await client.execute(
                uri: "/create",
                method: .post,
                headers: admin,
                body: InventoryTests.body(#"{"productId":"\#(product.uppercased())","inventory":9}"#)
            ) { response in
                #expect(response.status == .ok)
                let record = try InventoryTests.decode(InventoryTests.Record.self, response)
                #expect(record._id == firstID && record.inventory == 5)
            }
            #expect(try await InventoryTests.ledger(runtime).records.count(["productId": .string(product)]) == 1)
            try await client.execute(uri: "/get/\(product)", method: .get, headers: customer) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains(#""inventory":5"#))
                #expect(text.contains(#""ccreatedAt""#))
            }
            try await client.execute(uri: "/get/\(InventoryTests.newID())", method: .get, headers: customer) {
                #expect($0.status == .notFound)
                #expect(InventoryTests.errorCode($0) == "not_found")
            }
            try await client.execute(uri: "/get/xyz", method: .get, headers: customer) {
                #expect($0.status == .badRequest)
                #expect(InventoryTests.errorCode($0) == "invalid_id")
            }
            try await client.execute(uri: "/get/\(product)", method: .get) { #expect($0.status == .unauthorized) }
            // Who may call what.
            try await client.execute(
                uri: "/create",
                method: .post,
                headers: customer,
                body: InventoryTests.body(#"{"productId":"\#(InventoryTests.newID())","inventory":1}"#)
            ) { #expect($0.status == .forbidden) }
            try await client.execute(
                uri: "/update/\(product)",
                method: .put,
                headers: service,
                body: InventoryTests.body(#"{"onHand":3}"#)
            ) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/delete/\(product)", method: .delete, headers: customer) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(
                uri: "/reserve",
                method: .post,
                headers: customer,
                body: InventoryTests.reserveBody("o-\(UUID())", [(product, 1)])
            ) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/reservations/abc", method: .get, headers: customer) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/reservations/abc", method: .get, headers: admin) {
                #expect($0.status == .notFound)
            }
            // Reserve 2, then the on-hand rules.
            let order = "order-\(UUID())"
            try await client.execute(
                uri: "/reserve",
                method: .post,
                headers: service,
                body: InventoryTests.reserveBody(order, [(product, 2)])
            ) { #expect($0.status == .created) }
            try await client.execute(
                uri: "/update/\(product)",
                method: .put,
                headers: admin,
                body: InventoryTests.body(#"{"onHand":1}"#)
            ) {
                #expect($0.status == .conflict)
                #expect(InventoryTests.errorCode($0) == "below_reserved")
            }
            try await client.execute(
                uri: "/update/\(product)",
                method: .put,
                headers: admin,
                body: InventoryTests.body(#"{"onHand":8}"#)
            ) { response in
                #expect(response.status == .ok)
                let record = try InventoryTests.decode(InventoryTests.Record.self, response)
                #expect(record.onHand == 8 && record.reserved == 2 && record.inventory == 6)
            }
            try await client.execute(
                uri: "/update/\(product)",
                method: .put,
                headers: admin,
                body: InventoryTests.body(#"{"inventory":2}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect((try? InventoryTests.decode(InventoryTests.Record.self, response))?.inventory == 0)
            }
            try await client.execute(
                uri: "/update/\(InventoryTests.newID())",
                method: .put,
                headers: admin,
                body: InventoryTests.body(#"{"onHand":2}"#)
            ) { #expect($0.status == .notFound) }
            let record = try await InventoryTests.record(runtime, product)
            #expect(record.received == 2 && record.reserved == 2)
            try await client.execute(uri: "/delete/\(product)", method: .delete, headers: service) {
                #expect($0.status == .conflict)
                #expect(InventoryTests.errorCode($0) == "pending_reservations")
            }
            // Cancel the reservation, then the delete goes through.
            let reservation = try #require(try await InventoryTests.reservations(runtime).find(orderID: order))
            try await client.execute(uri: "/reservations/\(reservation.id)", method: .get, headers: service) {
                #expect($0.status == .ok)
                #expect((try? InventoryTests.decode(InventoryTests.ReservationBody.self, $0))?.status == "PENDING")
            }
            #expect(try await InventoryTests.reservations(runtime).cancel(id: reservation.id) == .cancelled)
            try await client.execute(uri: "/delete/\(product)", method: .delete, headers: service) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/delete/\(product)", method: .delete, headers: service) {
                #expect($0.status == .notFound)
            }
        }
    }

    @Test("invalid requests are refused with 400 and write nothing")
    func validation() async throws {
        let (runtime, app) = try await InventoryTests.makeApp()
        let service = try await InventoryTests.auth(runtime, role: .service)
        let admin = try await InventoryTests.auth(runtime, role: .admin)
        let product = try await InventoryTests.stock(runtime, 5)
        try await app.test(.router) { client in
            for body in [
                #"{"productId":"\#(InventoryTests.newID())","inventory":-1}"#,
                #"{"productId":"nothex","inventory":1}"#,
                #"{"inventory":1}"#,
                #"{"productId":"\#(InventoryTests.newID())","inventory":1.5}"#,
                "not json",
            ] {
                try await client.execute(
                    uri: "/create",
                    method: .post,
                    headers: service,
                    body: InventoryTests.body(body)
                ) {
                    #expect($0.status == .badRequest, "\(body)")
                }
            }
            let reserveBodies = [
                #"{"items":[{"productId":"\#(product)","quantity":1}]}"#,
                #"{"orderId":"","items":[{"productId":"\#(product)","quantity":1}]}"#,
                #"{"orderId":"o1","items":[]}"#,
                #"{"orderId":"o1"}"#,
                #"{"orderId":"o1","items":[{"productId":"\#(product)","quantity":0}]}"#,
                #"{"orderId":"o1","items":[{"productId":"\#(product)","quantity":-2}]}"#,
                #"{"orderId":"o1","items":[{"productId":"bad","quantity":1}]}"#,
                #"{"orderId":"o1","items":[{"productId":"\#(product)","quantity":1},{"productId":"\#(product)","quantity":1}]}"#,
            ]
            for body in reserveBodies {
                try await client.execute(
                    uri: "/reserve",
                    method: .post,
                    headers: service,
                    body: InventoryTests.body(body)
                ) {
                    #expect($0.status == .badRequest, "\(body)")
                }
            }
            try await client.execute(
                uri: "/update/\(product)",
                method: .put,
                headers: admin,
                body: InventoryTests.body(#"{"onHand":-1}"#)
            ) { #expect($0.status == .badRequest) }
            try await client.execute(
                uri: "/update/\(product)",
                method: .put,
                headers: admin,
                body: InventoryTests.body("{}")
            ) {
                #expect($0.status == .badRequest)
            }
            #expect(try await InventoryTests.ledger(runtime).records.count() == 1)
            #expect(try await InventoryTests.reservations(runtime).collection.count() == 0)
            let record = try await InventoryTests.record(runtime, product)
            #expect(record.inventory == 5 && record.reserved == 0)
        }
    }
}
