import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import MongoStore
import ServiceAuth
import ServiceKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

@testable import InventoryService
@testable import ProductService

/// `GET /get/{id}` from the catalog view: fed by `stock-levels` and `product-events`, refilled after the staleness
/// bound, newest version wins, the same document as before. Real store, broker, inventory service and product applications.
@Suite("catalog view")
struct CatalogViewTests {
    /// The view and reader of a product application (set while it is built).
    final class Handles: Sendable {
        private let value = Mutex<(view: CatalogView, reader: KafkaBusReader)?>(nil)

        func set(_ view: CatalogView, _ reader: KafkaBusReader) { self.value.withLock { $0 = (view, reader) } }
        var view: CatalogView { self.value.withLock { $0!.view } }
        var isLive: Bool { self.value.withLock { $0?.reader.isLive ?? false } }
    }

    /// A product application with the given staleness bound (milliseconds) and its handles.
    static func makeApp(
        inventoryURL: String,
        staleness: Int,
        overrides: [String: String] = [:]
    ) async throws -> (ServiceRuntime, some ApplicationProtocol, Handles) {
        let runtime = try await TestRuntimes.make(
            .product,
            overrides: [
                "inventory.url": inventoryURL, "catalog.max.staleness.ms": String(staleness),
                "outbox.poll.interval.ms": "100",
            ].merging(overrides) { $1 }
        )
        let handles = Handles()
        let app = try await ProductService.buildApplication(runtime) { view, reader in handles.set(view, reader) }
        return (runtime, app, handles)
    }

    /// Runs `body` with the real inventory service on a live port, configured with `overrides`.
    static func withInventory(
        overrides: [String: String] = [:],
        _ body: @escaping @Sendable (_ url: String, _ runtime: ServiceRuntime) async throws -> Void
    ) async throws {
        let runtime = try await TestRuntimes.make(.inventory, overrides: overrides)
        let app = try await InventoryService.buildApplication(
            runtime,
            consumerGroups: .init(
                payments: TestEnvironment.uniqueName("catalog-tests-inventory"),
                orders: TestEnvironment.uniqueName("catalog-tests-inventory-orders")
            )
        )
        try await app.test(.live) { peer in try await body("http://127.0.0.1:\(try #require(peer.port))", runtime) }
    }

    /// Creates a product through `client` and returns its id.
    static func create(_ client: some TestClientProtocol, _ admin: HTTPFields, stock: Int) async throws -> String {
        try await client.execute(
            uri: "/create",
            method: .post,
            headers: admin,
            body: ProductTests.body(#"{"name":"Lamp","category":"home","price":12.5,"inventory":\#(stock)}"#)
        ) { response -> String in
            #expect(response.status == .created)
            return try #require(
                ProductTests.json(response)["_id"].flatMap { if case .string(let s) = $0 { s } else { nil } }
            )
        }
    }

    /// `GET /get/{id}` → the JSON of the answer (nil unless 200).
    static func detail(_ client: some TestClientProtocol, _ id: String) async throws -> JSONValue? {
        try await client.execute(uri: "/get/\(id)", method: .get) { response in
            response.status == .ok ? try ProductTests.json(response) : nil
        }
    }

    static func available(_ client: some TestClientProtocol, _ id: String) async throws -> Double? {
        try await self.detail(client, id)?["inventory"]?["inventory"]?.numberValue
    }

    @Test("a reservation in inventory shows in GET /get/{id} through stock-levels, the bound being an hour")
    func stockEventsReachTheView() async throws {
        try await ProductTests.withInventory { inventory in
            let (runtime, app, handles) = try await Self.makeApp(inventoryURL: inventory.url, staleness: 3_600_000)
            let admin = try await ProductTests.auth(runtime)
            try await app.test(.router) { client in
                #expect(await eventually { handles.isLive })
                let id = try await Self.create(client, admin, stock: 10)
                #expect(try await Self.available(client, id) == 10)  // fills the view
                try await ProductTests.reserve(runtime, id, 3)
                // No refill can happen within the hour: only the event can bring the new figure.
                #expect(await eventually(.seconds(30)) { (try? await Self.available(client, id)) == 7 })
                #expect(try await Self.detail(client, id)?["inventory"]?["reserved"]?.numberValue == 3)
            }
        }
    }

    @Test("a product changed through one product instance shows on another (same store and broker)")
    func productEventsReachOtherInstances() async throws {
        try await ProductTests.withInventory { inventory in
            let database = TestEnvironment.uniqueName("catalog").replacingOccurrences(of: "-", with: "_")
            let (runtimeA, appA, handlesA) = try await Self.makeApp(
                inventoryURL: inventory.url,
                staleness: 3_600_000,
                overrides: ["mongo.database": database]
            )
            let (_, appB, handlesB) = try await Self.makeApp(
                inventoryURL: inventory.url,
                staleness: 3_600_000,
                overrides: ["mongo.database": database]
            )
            let admin = try await ProductTests.auth(runtimeA)
            try await appA.test(.router) { a in
                try await appB.test(.router) { b in
                    #expect(await eventually { handlesA.isLive && handlesB.isLive })
                    let id = try await Self.create(a, admin, stock: 5)
                    #expect(try await Self.detail(b, id)?["product"]?["name"] == .string("Lamp"))  // fills B's view
                    try await a.execute(
                        uri: "/update/\(id)",
                        method: .patch,
                        headers: admin,
                        body: ProductTests.body(#"{"name":"Desk lamp","price":14}"#)
                    ) { response in #expect(response.status == .ok) }
                    // A's own view at once; B's through product-events.
                    #expect(try await Self.detail(a, id)?["product"]?["name"] == .string("Desk lamp"))
                    #expect(
                        await eventually(.seconds(30)) {
                            (try? await Self.detail(b, id))?["product"]?["name"] == .string("Desk lamp")
                        }
                    )
                    #expect(try await Self.detail(b, id)?["product"]?["price"]?.numberValue == 14)
                    // A delete on A: B answers 404 without waiting for the bound.
                    try await a.execute(uri: "/delete/\(id)", method: .delete, headers: admin) { response in
                        #expect(response.status == .ok)
                    }
                    #expect(
                        await eventually(.seconds(30)) {
                            (try? await b.execute(uri: "/get/\(id)", method: .get) { $0.status }) == .notFound
                        }
                    )
                }
            }
        }
    }

    @Test("with the event feed cut off, a stock change shows only once the staleness bound has passed")
    func stalenessBoundWithoutEvents() async throws {
        try await DevBrokerProcess.with { broker in
            // Short message timeouts: the producers must not wait long for the broker that is down at the end.
            let kafka = ["kafka.brokers": broker.bootstrap, "kafka.message.timeout.ms": "5000"]
            try await Self.withInventory(overrides: kafka) { url, _ in
                let bound = Duration.seconds(3)
                let (runtime, app, handles) = try await Self.makeApp(
                    inventoryURL: url,
                    staleness: 3000,
                    overrides: kafka
                )
                let admin = try await ProductTests.auth(runtime)
                try await app.test(.router) { client in
                    #expect(await eventually { handles.isLive })
                    let id = try await Self.create(client, admin, stock: 10)
                    try await broker.setDown(broker: 1)
                    let beforeFill = ContinuousClock.now
                    #expect(try await Self.available(client, id) == 10)  // fills the view
                    try await ProductTests.reserve(runtime, id, 4)
                    // Within the bound the view still answers what it had (when this machine was quick enough to
                    // still be within it: only then is the old figure guaranteed).
                    let seen = try await Self.available(client, id)
                    if ContinuousClock.now - beforeFill < bound - .milliseconds(500) { #expect(seen == 10) }
                    #expect(await eventually(.seconds(30)) { (try? await Self.available(client, id)) == 6 })
                    // Never before the bound: the entry was confirmed no earlier than `beforeFill`.
                    #expect(ContinuousClock.now - beforeFill >= bound)
                    try await broker.setUp(broker: 1)
                }
            }
        }
    }

    @Test("events older than the entry never overwrite it; newer ones do")
    func newestVersionWins() async throws {
        try await ProductTests.withInventory { inventory in
            let (runtime, app, handles) = try await Self.makeApp(inventoryURL: inventory.url, staleness: 3_600_000)
            let admin = try await ProductTests.auth(runtime)
            try await app.test(.router) { client in
                #expect(await eventually { handles.isLive })
                let id = try await Self.create(client, admin, stock: 10)
                try await ProductTests.reserve(runtime, id, 2)
                #expect(await eventually(.seconds(30)) { (try? await Self.available(client, id)) == 8 })
                let record = try #require(try await Self.detail(client, id)?["inventory"])
                guard case .object(var changed) = record else { throw TestFailure("inventory is not an object") }
                changed["inventory"] = .integer(999)
                let feed = CatalogFeed(view: handles.view, logger: runtime.logger)
                func deliver(_ event: some StorefrontEvent, _ topic: String) throws {
                    feed.handle(KafkaBusMessage(topic: topic, value: Array(try StorefrontJSON.encoder().encode(event))))
                }
                // The record's versions: 1 at creation, 2 after the hold.
                try deliver(
                    StockLevelEvent(productId: id, version: 1, record: .object(changed)),
                    Topics.stockLevels.name
                )
                #expect(try await Self.available(client, id) == 8)
                let stale = ProductEvent(
                    .updated,
                    productId: id,
                    version: 0,
                    product: .init(
                        id: id,
                        name: "Old name",
                        description: "",
                        category: "home",
                        price: 1,
                        createdAt: Date(),
                        updatedAt: Date()
                    )
                )
                try deliver(stale, Topics.productEvents.name)
                #expect(try await Self.detail(client, id)?["product"]?["name"] == .string("Lamp"))
                // Newer versions apply: the same path is not simply ignoring events.
                try deliver(
                    StockLevelEvent(productId: id, version: 3, record: .object(changed)),
                    Topics.stockLevels.name
                )
                #expect(try await Self.available(client, id) == 999)
                var newer = stale
                newer.version = 2
                try deliver(newer, Topics.productEvents.name)
                #expect(try await Self.detail(client, id)?["product"]?["name"] == .string("Old name"))
            }
        }
    }

    @Test("the answer is the document {product, inventory} of before the view: filled, from the view, from events")
    func sameDocumentAsBefore() async throws {
        try await ProductTests.withInventory { inventory in
            let (runtime, app, handles) = try await Self.makeApp(inventoryURL: inventory.url, staleness: 3_600_000)
            let admin = try await ProductTests.auth(runtime)
            try await app.test(.router) { client in
                #expect(await eventually { handles.isLive })
                let id = try await Self.create(client, admin, stock: 3)
                let objectID = try #require(MongoObjectID(id))
                /// What the route answered before the view: the stored product and inventory's record, encoded (JSON
                /// objects are unordered, so documents are compared, not bytes).
                func before() async throws -> JSONValue {
                    let stored = try #require(
                        try await ProductTests.products(runtime).findOne(["_id": .objectID(objectID)])
                    )
                    let record = try #require(try await ProductTests.inventoryRecord(runtime, id))
                    let data = try StorefrontJSON.encoder().encode(
                        ProductController.DetailResponse(product: .init(stored), inventory: record)
                    )
                    return try JSONDecoder().decode(JSONValue.self, from: data)
                }
                func now() async throws -> JSONValue {
                    try await client.execute(uri: "/get/\(id)", method: .get) { response in
                        #expect(response.status == .ok)
                        #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                        return try JSONDecoder().decode(JSONValue.self, from: Data(String(buffer: response.body).utf8))
                    }
                }
                let expected = try await before()
                #expect(expected["product"]?["_id"] == .string(id))
                #expect(expected["product"]?["name"] == .string("Lamp"))
                #expect(expected["inventory"]?["productId"] == .string(id))
                #expect(try await now() == expected)  // filled
                #expect(try await now() == expected)  // from the view
                #expect(handles.view.count == 1)
                // From a stock-levels event (the bound is an hour) and an own write: still the same document.
                try await ProductTests.reserve(runtime, id, 1)
                let changed = try await before()
                #expect(changed != expected)
                #expect(await eventually(.seconds(30)) { (try? await now()) == changed })
                try await client.execute(
                    uri: "/update/\(id)",
                    method: .put,
                    headers: admin,
                    body: ProductTests.body(#"{"description":"A lamp / with a slash"}"#)
                ) { response in #expect(response.status == .ok) }
                #expect(try await now() == (try await before()))
            }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
