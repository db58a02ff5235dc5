import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KafkaBus
import Logging
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

@testable import CartService
@testable import InventoryService
@testable import ProductService

/// The real product and inventory services on live ports, for the cart's catalog look-ups, with the calls a test
/// needs to shape the catalog (as the shop's admin would).
struct Catalog: Sendable {
    let services: LiveServices

    /// The overrides that point a cart service at these product and inventory services.
    var peers: [String: String] {
        ["product.url": self.services.url(.product), "inventory.url": self.services.url(.inventory)]
    }

    private var product: ServiceRuntime { self.services.runtime(.product) }

    private func send(
        _ method: HTTPRequest.Method,
        to peer: StorefrontService,
        _ path: String,
        body: JSONValue? = nil
    ) async throws -> ServiceClient.Response {
        let token = try await self.product.authority.accessToken(
            for: Identity(userID: MongoObjectID().hex, email: "admin@example.com", role: .admin)
        )
        return try await self.product.client.send(
            method,
            to: peer,
            path: path,
            body: body,
            authorization: .bearer(token)
        )
    }

    /// Creates a product with `stock` units for sale; returns its id once its stock record exists.
    func product(price: Double = 19.99, stock: Int) async throws -> String {
        let body: JSONValue = .object([
            "name": .string("Widget"), "description": .string("A widget"), "category": .string("tools"),
            "price": .number(price), "inventory": .integer(Int64(stock)),
        ])
        let response = try await self.send(.post, to: .product, "/create", body: body)
        #expect(response.status.code == 201, "create: \(String(decoding: response.body, as: UTF8.self))")
        let id = try #require(try response.decode(JSONValue.self, peer: .product)["_id"]?.stringValue)
        #expect(try await eventually { try await InventoryClient(self.product.client).record(productID: id) != nil })
        return id
    }

    /// Changes the product's price.
    func setPrice(_ id: String, _ price: Double) async throws {
        let response = try await self.send(
            .put,
            to: .product,
            "/update/\(id)",
            body: .object(["price": .number(price)])
        )
        #expect(response.status.code == 200)
    }

    /// Deletes the product (and its stock record).
    func delete(_ id: String) async throws {
        let response = try await self.send(.delete, to: .product, "/delete/\(id)")
        #expect((200..<300).contains(response.status.code))
    }

    /// Deletes only the product's stock record: the product exists, and the inventory service knows nothing of it.
    func forgetStock(_ id: String) async throws {
        let response = try await self.send(.delete, to: .inventory, "/delete/\(id)")
        #expect((200..<300).contains(response.status.code))
    }
}

/// Builds cart applications against the real store and broker, with the real product and inventory services.
enum CartTests {
    /// A fresh 24-hex id.
    static func newID() -> String { MongoObjectID().hex }

    /// Runs `body` with the real product and inventory services on live ports.
    static func withCatalog(_ body: @escaping @Sendable (Catalog) async throws -> Void) async throws {
        let services = [
            LiveService(.inventory) { runtime in
                let app = try await InventoryService.buildApplication(
                    runtime,
                    consumerGroups: .init(
                        payments: TestEnvironment.uniqueName("cart-tests-inventory"),
                        orders: TestEnvironment.uniqueName("cart-tests-inventory-orders")
                    )
                )
                return { try await app.runService() }
            },
            LiveService(.product) { runtime in
                let app = try await ProductService.buildApplication(runtime)
                return { try await app.runService() }
            },
        ]
        try await withLiveServices(services) { live in try await body(Catalog(services: live)) }
    }

    /// A cart runtime and application, with consumer groups unique to this test (topics are shared).
    static func makeApp(
        overrides: [String: String]
    ) async throws -> (ServiceRuntime, some ApplicationProtocol) {
        let runtime = try await TestRuntimes.make(.cart, overrides: overrides)
        let app = try await CartService.buildApplication(
            runtime,
            consumerGroups: .init(
                userCreated: TestEnvironment.uniqueName("cart-created"),
                userDeleted: TestEnvironment.uniqueName("cart-deleted")
            ),
            orderGroup: TestEnvironment.uniqueName("cart-orders")
        )
        return (runtime, app)
    }

    static func carts(_ runtime: ServiceRuntime) -> MongoCollection<Cart> {
        runtime.store.collection("carts", as: Cart.self)
    }

    /// Headers with a bearer token for `userID` in `role`.
    static func auth(_ runtime: ServiceRuntime, _ userID: String, role: Role = .customer) async throws -> HTTPFields {
        try await runtime.bearerHeaders(userID: userID, role: role)
    }

    /// The error code of an error envelope; records a failure when the body is not one.
    static func errorCode(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(response.headers[.contentType]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
        guard let error = response.errorEnvelope else {
            Issue.record("not an error envelope: \(String(buffer: response.body))", sourceLocation: sourceLocation)
            return ""
        }
        return error.code
    }

    static func json(_ response: TestResponse) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(Array(buffer: response.body)))
    }

    static func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    static func addBody(_ userID: String, _ productID: String, _ quantity: Int) -> ByteBuffer {
        ByteBuffer(string: #"{"userId":"\#(userID)","productId":"\#(productID)","quantity":\#(quantity)}"#)
    }

    static var logger: Logger { Logger(label: "cart-tests") }
}
