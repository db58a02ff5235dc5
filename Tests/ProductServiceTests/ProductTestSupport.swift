import Foundation
import Hummingbird
import HummingbirdTesting
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import Synchronization
import TestSupport
import Testing

@testable import InventoryService
@testable import ProductService

/// The inventory peer of a test: the real inventory application (`InventoryService.buildApplication`, its own fresh
/// database on the dev store, the dev broker) on a live port.
struct InventoryPeer: Sendable {
    /// Its base URL, for the product service's `inventory.url`.
    let url: String
    let runtime: ServiceRuntime

    /// How many stock records its store holds.
    func recordCount() async throws -> Int {
        try await self.runtime.store.collection("inventory", as: JSONValue.self).count()
    }
}

/// A stand-in for the inventory service on a live port, answering its contract: `POST /create {productId, inventory}`
/// (201, or 200 with the existing record: idempotent by product id), `GET /get/{productId}` (the record with a
/// top-level numeric `inventory`, or 404), `DELETE /delete/{productId}` (200; 409 `pending_reservations` while units are
/// reserved; 404), `POST /reserve {orderId, items: [{productId, quantity}]}` (holds units; 409 when short).
///
/// Used only where the real service cannot be made to misbehave (a `POST /create` answering 500); every other test runs
/// the real inventory service (``ProductTests/withInventory(_:)``).
final class InventoryStub: Sendable {
    struct Record: Sendable {
        var id: String
        var available: Int64
        var reserved: Int64
    }

    private let records = Mutex<[String: Record]>([:])
    private let creates = Mutex<Int>(0)
    /// When set, `POST /create` answers 500.
    let failCreates = Mutex<Bool>(false)

    /// How many `POST /create` calls arrived.
    var createCalls: Int { self.creates.withLock { $0 } }

    private static func json(_ status: HTTPResponse.Status, _ object: [String: JSONValue]) throws -> Response {
        let data = try JSONEncoder().encode(JSONValue.object(object))
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    private static func error(_ status: HTTPResponse.Status, _ code: String) throws -> Response {
        try self.json(status, ["error": .object(["code": .string(code), "message": .string(code)])])
    }

    private static func recordJSON(_ productID: String, _ record: Record) -> [String: JSONValue] {
        [
            "_id": .string(record.id), "productId": .string(productID), "inventory": .integer(record.available),
            "reserved": .integer(record.reserved), "sold": .integer(0),
            "onHand": .integer(record.available + record.reserved),
            "createdAt": .string("2026-01-02T03:04:05.123Z"), "updatedAt": .string("2026-01-02T03:04:05.123Z"),
        ]
    }

    private struct CreateBody: Decodable {
        var productId: String
        var inventory: Int64?
    }

    private struct ReserveBody: Decodable {
        struct Item: Decodable {
            var productId: String
            var quantity: Int64
        }
        var orderId: String
        var items: [Item]
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/create") { request, context -> Response in
            self.creates.withLock { $0 += 1 }
            if self.failCreates.withLock({ $0 }) { return try Self.error(.internalServerError, "internal") }
            guard request.headers[.authorization]?.hasPrefix("Bearer ") == true else {
                return try Self.error(.unauthorized, "unauthenticated")
            }
            let body = try await request.decode(as: CreateBody.self, context: context)
            let (record, created) = self.records.withLock { records -> (Record, Bool) in
                if let existing = records[body.productId] { return (existing, false) }
                let record = Record(id: MongoObjectID().hex, available: body.inventory ?? 0, reserved: 0)
                records[body.productId] = record
                return (record, true)
            }
            return try Self.json(created ? .created : .ok, Self.recordJSON(body.productId, record))
        }
        router.get("/get/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let record = self.records.withLock({ $0[id] }) else { return try Self.error(.notFound, "not_found") }
            return try Self.json(.ok, Self.recordJSON(id, record))
        }
        router.delete("/delete/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            enum Outcome { case deleted, missing, reserved }
            let outcome = self.records.withLock { records -> Outcome in
                guard let record = records[id] else { return .missing }
                guard record.reserved == 0 else { return .reserved }
                records[id] = nil
                return .deleted
            }
            switch outcome {
            case .deleted: return try Self.json(.ok, ["message": .string("deleted")])
            case .missing: return try Self.error(.notFound, "not_found")
            case .reserved: return try Self.error(.conflict, "pending_reservations")
            }
        }
        router.post("/reserve") { request, context -> Response in
            let body = try await request.decode(as: ReserveBody.self, context: context)
            let ok = self.records.withLock { records -> Bool in
                for item in body.items where (records[item.productId]?.available ?? 0) < item.quantity { return false }
                for item in body.items {
                    records[item.productId]!.available -= item.quantity
                    records[item.productId]!.reserved += item.quantity
                }
                return true
            }
            guard ok else { return try Self.error(.conflict, "insufficient_inventory") }
            return try Self.json(.ok, ["reservationId": .string(MongoObjectID().hex), "success": .bool(true)])
        }
        return router
    }
}

/// Builds product applications against the real store, with the inventory peer on a live port.
enum ProductTests {
    /// Runs `body` with the real inventory service on a live port (with a consumer group unique to the test).
    static func withInventory(_ body: @escaping @Sendable (InventoryPeer) async throws -> Void) async throws {
        let runtime = try await TestRuntimes.make(.inventory)
        let app = try await InventoryService.buildApplication(
            runtime,
            consumerGroups: .init(
                payments: TestEnvironment.uniqueName("product-tests-inventory"),
                orders: TestEnvironment.uniqueName("product-tests-inventory-orders")
            )
        )
        try await app.test(.live) { peer in
            try await body(InventoryPeer(url: "http://127.0.0.1:\(try #require(peer.port))", runtime: runtime))
        }
    }

    /// Runs `body` with a live inventory stub; `url` is its base URL.
    static func withInventoryStub(
        _ body: @escaping @Sendable (_ stub: InventoryStub, _ url: String) async throws -> Void
    ) async throws {
        let stub = InventoryStub()
        try await Application(router: stub.router()).test(.live) { peer in
            try await body(stub, "http://127.0.0.1:\(try #require(peer.port))")
        }
    }

    /// A product runtime and application whose inventory peer is `inventoryURL`.
    static func makeApp(
        inventoryURL: String,
        overrides: [String: String] = [:]
    ) async throws -> (ServiceRuntime, some ApplicationProtocol) {
        let runtime = try await TestRuntimes.make(
            .product,
            overrides: ["inventory.url": inventoryURL].merging(overrides) { $1 }
        )
        return (runtime, try await ProductService.buildApplication(runtime))
    }

    /// A URL where nothing listens.
    static func deadURL() throws -> String { "http://127.0.0.1:\(try FreePort.find())" }

    static func products(_ runtime: ServiceRuntime) -> MongoCollection<Product> {
        runtime.store.collection("products", as: Product.self)
    }

    /// Headers with a bearer token in `role`.
    static func auth(_ runtime: ServiceRuntime, role: Role = .admin) async throws -> HTTPFields {
        let userID = MongoObjectID().hex
        let token = try await runtime.authority.accessToken(
            for: Identity(userID: userID, email: "\(userID)@example.com", role: role)
        )
        return [.authorization: "Bearer \(token)", .contentType: "application/json"]
    }

    /// The inventory peer's record for `productID` (`GET /get/{productID}` with a service token); `nil` on 404.
    static func inventoryRecord(_ runtime: ServiceRuntime, _ productID: String) async throws -> JSONValue? {
        let response = try await runtime.client.send(.get, to: .inventory, path: "/get/\(productID)")
        if response.status == .notFound { return nil }
        #expect(response.status == .ok)
        return try response.decode(JSONValue.self, peer: .inventory)
    }

    /// Reserves `quantity` units of `productID` on the inventory peer (`POST /reserve`, service token).
    static func reserve(_ runtime: ServiceRuntime, _ productID: String, _ quantity: Int) async throws {
        struct Item: Encodable, Sendable {
            var productId: String
            var quantity: Int
        }
        struct Body: Encodable, Sendable {
            var orderId: String
            var items: [Item]
        }
        let response = try await runtime.client.send(
            .post,
            to: .inventory,
            path: "/reserve",
            body: Body(orderId: MongoObjectID().hex, items: [Item(productId: productID, quantity: quantity)])
        )
        #expect([200, 201].contains(response.status.code), "reserve answered \(response.status.code)")
    }

    struct Envelope: Decodable {
        struct Detail: Decodable {
            var code: String
            var message: String
        }
        var error: Detail
    }

    /// The error code of an error envelope; records a failure when the body is not one.
    static func errorCode(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(Array(buffer: response.body))) else {
            Issue.record("not an error envelope: \(String(buffer: response.body))", sourceLocation: sourceLocation)
            return ""
        }
        return envelope.error.code
    }

    static func json(_ response: TestResponse) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(Array(buffer: response.body)))
    }

    static func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// A stored product made directly in the store (no inventory record), `createdAt` as given.
    static func product(
        _ name: String,
        category: String = "misc",
        price: Double = 10,
        description: String = "",
        createdAt: Date = Date()
    ) -> Product {
        Product(
            name: name,
            description: description,
            category: category,
            price: price,
            createdAt: createdAt,
            updatedAt: createdAt
        )
    }
}
