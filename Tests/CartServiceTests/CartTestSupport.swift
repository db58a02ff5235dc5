import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import Logging
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import Synchronization
import TestSupport
import Testing

@testable import CartService

/// A stand-in for the product and inventory services, on one live port: the product service under `/product`
/// (`GET /product/get/{id}`) and the inventory service under `/inventory` (`GET /inventory/get/{productId}`),
/// answering the shapes of contract §2.2 and §2.3.
///
/// Why a stub: the product and inventory services do not exist yet, so there is no real counterpart to run. Only these
/// HTTP peers are stubbed; the store and the broker in every test are the real dev store and dev broker.
final class CatalogStub: Sendable {
    private struct Product: Sendable {
        var price: Double
        var stock: Int?
    }

    private let products = Mutex<[String: Product]>([:])

    /// Adds or changes a product; `stock: nil` means the inventory service has no record of it (404).
    func set(_ productID: String, price: Double = 19.99, stock: Int?) {
        self.products.withLock { $0[productID] = Product(price: price, stock: stock) }
    }

    func remove(_ productID: String) {
        _ = self.products.withLock { $0.removeValue(forKey: productID) }
    }

    private func lookup(_ productID: String) -> Product? {
        self.products.withLock { $0[productID] }
    }

    private static func json(_ text: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }

    private static func inventoryJSON(_ productID: String, stock: Int, createdKey: String) -> String {
        #"{"_id":"6650a1b2c3d4e5f6a7b8c9d0","productId":"\#(productID)","inventory":\#(stock),"updatedAt":"2025-01-02T03:04:05.123Z","\#(createdKey)":"2025-01-02T03:04:05.123Z"}"#
    }

    /// The router of the stub; errors are the original's plain-text ones.
    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/product/get/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let product = self.lookup(id) else {
                return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "product not found\n")))
            }
            guard let stock = product.stock else {
                // The inventory service has no record: the product answers without an `inventory` member.
                return Self.json(
                    #"{"product":{"_id":"\#(id)","name":"Widget","description":"","category":"tools","price":\#(product.price)}}"#
                )
            }
            let inventory = Self.inventoryJSON(id, stock: stock, createdKey: "createdAt")
                .replacingOccurrences(of: #""createdAt":"2025-01-02T03:04:05.123Z""#, with: #""createdAt":"""#)
            return Self.json(
                #"{"product":{"_id":"\#(id)","name":"Widget","description":"A widget","category":"tools","price":\#(product.price),"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z"},"inventory":\#(inventory)}"#
            )
        }
        router.get("/inventory/get/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let stock = self.lookup(id)?.stock else {
                return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "inventory not found\n")))
            }
            return Self.json(Self.inventoryJSON(id, stock: stock, createdKey: "ccreatedAt"))
        }
        return router
    }
}

/// Builds cart applications against the real store and broker, with the catalog stub as the product and inventory
/// services.
enum CartTests {
    /// A fresh 24-hex id.
    static func newID() -> String { MongoObjectID().hex }

    /// Runs `body` with a live catalog stub.
    static func withCatalog(_ body: @escaping @Sendable (CatalogStub, Int) async throws -> Void) async throws {
        let stub = CatalogStub()
        try await Application(router: stub.router()).test(.live) { peer in
            try await body(stub, try #require(peer.port))
        }
    }

    /// The overrides that point the cart service's peers at the stub on `port`.
    static func peers(_ port: Int) -> [String: String] {
        ["product.url": "http://127.0.0.1:\(port)/product", "inventory.url": "http://127.0.0.1:\(port)/inventory"]
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
            )
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
