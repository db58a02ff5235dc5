import Foundation
import Hummingbird
import HummingbirdTesting
import MongoStore
import ServiceAuth
import ServiceKit
import Synchronization
import TestSupport
import Testing

@testable import ProductService

@Suite("product routes")
struct ProductRoutesTests {
    static let widget = #"{"name":"Widget","category":"tools","price":19.99,"description":"A widget"}"#

    @Test("create: 201 with the product, and its inventory record holds the initial stock (default 100)")
    func create() async throws {
        try await ProductTests.withInventory { inventory in
            let (runtime, app) = try await ProductTests.makeApp(inventoryURL: inventory.url)
            let admin = try await ProductTests.auth(runtime)
            try await app.test(.router) { client in
                // A client _id and dates are ignored.
                let body =
                    #"{"_id":"5f0000000000000000000001","name":"  Widget ","category":"tools","price":19.99,"#
                    + #""createdAt":"2001-01-01T00:00:00Z","updatedAt":"2001-01-01T00:00:00Z"}"#
                let before = Date().addingTimeInterval(-1)
                let id = try await client.execute(
                    uri: "/create",
                    method: .post,
                    headers: admin,
                    body: ProductTests.body(body)
                ) { response -> String in
                    #expect(response.status == .created)
                    let json = try ProductTests.json(response)
                    let id = try #require(json["_id"].flatMap { if case .string(let s) = $0 { s } else { nil } })
                    #expect(MongoObjectID(id) != nil && id != "5f0000000000000000000001")
                    #expect(json["name"] == .string("Widget"))
                    #expect(json["description"] == .string(""))
                    #expect(json["category"] == .string("tools"))
                    #expect(json["price"]?.numberValue == 19.99)
                    #expect(json["message"] == .string("Inserted product with ID: ObjectID(\"\(id)\")"))
                    let text = String(buffer: response.body)
                    #expect(text.contains(#""createdAt":"20"#) && !text.contains("2001-01-01"))
                    return id
                }
                let stored = try #require(
                    try await ProductTests.products(runtime).findOne(["_id": .objectID(MongoObjectID(id)!)])
                )
                #expect(stored.name == "Widget" && stored.price == 19.99)
                #expect(stored.createdAt > before && stored.createdAt == stored.updatedAt)
                let record = try #require(try await ProductTests.inventoryRecord(runtime, id))
                #expect(record["inventory"]?.numberValue == 100)
                #expect(record["productId"] == .string(id))
                #expect(try await inventory.recordCount() == 1)

                // An explicit initial stock, 0 included.
                for stock in [7, 0] {
                    let other = try await client.execute(
                        uri: "/create",
                        method: .post,
                        headers: admin,
                        body: ProductTests.body(
                            #"{"name":"Gadget","category":"tools","price":5,"inventory":\#(stock)}"#
                        )
                    ) { response -> String in
                        #expect(response.status == .created)
                        return try #require(
                            try ProductTests.json(response)["_id"].flatMap {
                                if case .string(let s) = $0 { s } else { nil }
                            }
                        )
                    }
                    let otherRecord = try await ProductTests.inventoryRecord(runtime, other)
                    #expect(otherRecord?["inventory"]?.numberValue == Double(stock))
                }
            }
        }
    }

    @Test("create with the inventory service down or failing: 503 and no product stored")
    func createInventoryDown() async throws {
        let (runtime, app) = try await ProductTests.makeApp(
            inventoryURL: try ProductTests.deadURL(),
            overrides: ["http.client.timeout.ms": "1000"]
        )
        let admin = try await ProductTests.auth(runtime)
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/create",
                method: .post,
                headers: admin,
                body: ProductTests.body(Self.widget)
            ) {
                #expect($0.status == .serviceUnavailable)
                #expect(ProductTests.errorCode($0) == "dependency_unavailable")
            }
            #expect(try await ProductTests.products(runtime).count() == 0)
        }

        try await ProductTests.withInventoryStub { stub, url in
            stub.failCreates.withLock { $0 = true }
            let (runtime, app) = try await ProductTests.makeApp(inventoryURL: url)
            let admin = try await ProductTests.auth(runtime)
            try await app.test(.router) { client in
                try await client.execute(
                    uri: "/create",
                    method: .post,
                    headers: admin,
                    body: ProductTests.body(Self.widget)
                ) {
                    #expect($0.status == .serviceUnavailable)
                    #expect(ProductTests.errorCode($0) == "dependency_unavailable")
                }
                #expect(try await ProductTests.products(runtime).count() == 0)
            }
            #expect(stub.createCalls == 1)
        }
    }

    @Test("validation: every bad create body is a 400 and nothing is stored anywhere")
    func createValidation() async throws {
        try await ProductTests.withInventory { inventory in
            let (runtime, app) = try await ProductTests.makeApp(inventoryURL: inventory.url)
            let admin = try await ProductTests.auth(runtime)
            let long = String(repeating: "x", count: 201)
            let bodies = [
                #"{"category":"tools","price":1}"#,
                #"{"name":"","category":"tools","price":1}"#,
                #"{"name":"   ","category":"tools","price":1}"#,
                #"{"name":"\#(long)","category":"tools","price":1}"#,
                #"{"name":"A","price":1}"#,
                #"{"name":"A","category":"","price":1}"#,
                #"{"name":"A","category":"tools"}"#,
                #"{"name":"A","category":"tools","price":0}"#,
                #"{"name":"A","category":"tools","price":-5}"#,
                #"{"name":"A","category":"tools","price":1.234}"#,
                #"{"name":"A","category":"tools","price":1e-9}"#,  // 0 once rounded to the cent
                #"{"name":"A","category":"tools","price":"12"}"#,
                #"{"name":5,"category":"tools","price":1}"#,
                #"{"name":"A","category":"tools","price":1,"inventory":-1}"#,
                #"{"name":"A","category":"tools","price":1,"inventory":1.5}"#,
                #"{"name":"A","category":"tools","price":1,"inventory":"5"}"#,
                #"{"name":"A","category":"tools","price":1,"description":7}"#,
                #"{"name":"A","category":"tools","price":1"#,
                #"[{"name":"A","category":"tools","price":1}]"#,
                "",
            ]
            try await app.test(.router) { client in
                for body in bodies {
                    try await client.execute(
                        uri: "/create",
                        method: .post,
                        headers: admin,
                        body: ProductTests.body(body)
                    ) { response in
                        #expect(response.status == .badRequest, "\(body)")
                    }
                }
                #expect(try await ProductTests.products(runtime).count() == 0)
            }
            #expect(try await inventory.recordCount() == 0)
        }
    }

    @Test("auth: the catalog reads are public (200 without a token); writes need a token (401) and an admin (403)")
    func authorization() async throws {
        try await ProductTests.withInventory { inventory in
            let (runtime, app) = try await ProductTests.makeApp(inventoryURL: inventory.url)
            let customer = try await ProductTests.auth(runtime, role: .customer)
            let product = ProductTests.product("Existing", createdAt: Date(timeIntervalSince1970: 1_700_000_000))
            try await ProductTests.products(runtime).insert(product)
            let id = product.id.hex
            try await app.test(.router) { client in
                let calls: [(String, HTTPRequest.Method, String?)] = [
                    ("/create", .post, Self.widget), ("/get", .get, nil), ("/get/\(id)", .get, nil),
                    ("/update/\(id)", .put, #"{"name":"X"}"#), ("/update/\(id)", .patch, #"{"name":"X"}"#),
                    ("/delete/\(id)", .delete, nil),
                ]
                for (uri, method, body) in calls {
                    try await client.execute(uri: uri, method: method, body: body.map(ProductTests.body)) {
                        #expect($0.status == (method == .get ? .ok : .unauthorized), "\(method) \(uri)")
                    }
                }
                for (uri, method, body) in calls where method != .get {
                    try await client.execute(
                        uri: uri,
                        method: method,
                        headers: customer,
                        body: body.map(ProductTests.body)
                    ) {
                        #expect($0.status == .forbidden, "\(method) \(uri)")
                    }
                }
                try await client.execute(uri: "/get", method: .get, headers: customer) { #expect($0.status == .ok) }
                let stored = try await ProductTests.products(runtime).find()
                #expect(stored == [product])
            }
            #expect(try await inventory.recordCount() == 0)
        }
    }

    @Test("update: PUT and PATCH change only whitelisted fields, validated, never a field's type")
    func update() async throws {
        try await ProductTests.withInventory { inventory in
            let (runtime, app) = try await ProductTests.makeApp(inventoryURL: inventory.url)
            let admin = try await ProductTests.auth(runtime)
            let created = Date(timeIntervalSince1970: 1_700_000_000)
            let product = ProductTests.product(
                "Widget",
                category: "tools",
                price: 10,
                description: "d",
                createdAt: created
            )
            try await ProductTests.products(runtime).insert(product)
            let id = product.id.hex
            let collection = ProductTests.products(runtime)
            try await app.test(.router) { client in
                let body =
                    #"{"name":"Widget 2","price":12.5,"_id":"5f0000000000000000000001","createdAt":"2001-01-01T00:00:00Z","#
                    + #""updatedAt":"2001-01-01T00:00:00Z","inventory":5,"extra":"x"}"#
                try await client.execute(
                    uri: "/update/\(id)",
                    method: .put,
                    headers: admin,
                    body: ProductTests.body(body)
                ) {
                    response in
                    #expect(response.status == .ok)
                    let json = try ProductTests.json(response)
                    #expect(json["_id"] == .string(id))
                    #expect(json["name"] == .string("Widget 2"))
                    #expect(json["price"]?.numberValue == 12.5)
                    #expect(json["category"] == .string("tools"))
                }
                try await client.execute(
                    uri: "/update/\(id)",
                    method: .patch,
                    headers: admin,
                    body: ProductTests.body(#"{"description":"new","category":"garden"}"#)
                ) { #expect($0.status == .ok) }
                var stored = try #require(try await collection.findOne(["_id": .objectID(product.id)]))
                #expect(stored.name == "Widget 2" && stored.price == 12.5)
                #expect(stored.description == "new" && stored.category == "garden")
                #expect(stored.createdAt == created && stored.updatedAt > created)
                #expect(try await collection.count() == 1)
                #expect(try await collection.count(["extra": ["$exists": true]]) == 0)
                #expect(try await collection.count(["inventory": ["$exists": true]]) == 0)

                // Wrong types and bad values: 400, nothing changes (and the document still decodes).
                let bad = [
                    #"{"price":"abc"}"#, #"{"name":5}"#, #"{"price":1.999}"#, #"{"price":0}"#, #"{"category":""}"#,
                    #"{"name":""}"#, #"{"description":["x"]}"#, #"{"name":"ok","price":-1}"#, "not json",
                ]
                for body in bad {
                    try await client.execute(
                        uri: "/update/\(id)",
                        method: .put,
                        headers: admin,
                        body: ProductTests.body(body)
                    ) {
                        #expect($0.status == .badRequest, "\(body)")
                    }
                }
                stored = try #require(try await collection.findOne(["_id": .objectID(product.id)]))
                #expect(stored.name == "Widget 2" && stored.price == 12.5 && stored.category == "garden")
                try await client.execute(uri: "/get", method: .get, headers: admin) { #expect($0.status == .ok) }

                // An empty change answers the product unchanged.
                try await client.execute(
                    uri: "/update/\(id)",
                    method: .put,
                    headers: admin,
                    body: ProductTests.body("{}")
                ) {
                    #expect($0.status == .ok)
                }
                try await client.execute(
                    uri: "/update/\(MongoObjectID().hex)",
                    method: .put,
                    headers: admin,
                    body: ProductTests.body(#"{"name":"X"}"#)
                ) {
                    #expect($0.status == .notFound)
                }
                try await client.execute(
                    uri: "/update/xyz",
                    method: .put,
                    headers: admin,
                    body: ProductTests.body(#"{"name":"X"}"#)
                ) {
                    #expect($0.status == .badRequest)
                    #expect(ProductTests.errorCode($0) == "invalid_id")
                }
            }
        }
    }

    @Test("get by id: {product, inventory}; 404 unknown; 400 malformed; inventory record missing → inventory null")
    func show() async throws {
        try await ProductTests.withInventory { inventory in
            let (runtime, app) = try await ProductTests.makeApp(inventoryURL: inventory.url)
            let admin = try await ProductTests.auth(runtime)
            let customer = try await ProductTests.auth(runtime, role: .customer)
            try await app.test(.router) { client in
                let id = try await client.execute(
                    uri: "/create",
                    method: .post,
                    headers: admin,
                    body: ProductTests.body(Self.widget)
                ) { response -> String in
                    try #require(
                        try ProductTests.json(response)["_id"].flatMap {
                            if case .string(let s) = $0 { s } else { nil }
                        }
                    )
                }
                try await client.execute(uri: "/get/\(id)", method: .get, headers: customer) { response in
                    #expect(response.status == .ok)
                    let json = try ProductTests.json(response)
                    guard case .object(let top) = json else {
                        Issue.record("not an object")
                        return
                    }
                    #expect(Set(top.keys) == ["product", "inventory"])
                    #expect(json["product"]?["_id"] == .string(id))
                    #expect(json["product"]?["price"]?.numberValue == 19.99)
                    #expect(json["product"]?["name"] == .string("Widget"))
                    #expect(json["inventory"]?["inventory"]?.numberValue == 100)
                    #expect(json["inventory"]?["productId"] == .string(id))
                    guard case .object(let product) = json["product"] ?? .null else {
                        Issue.record("no product")
                        return
                    }
                    #expect(
                        Set(product.keys) == [
                            "_id", "name", "description", "category", "price", "createdAt", "updatedAt",
                        ]
                    )
                }
                try await client.execute(uri: "/get/\(MongoObjectID().hex)", method: .get, headers: customer) {
                    #expect($0.status == .notFound)
                    #expect(ProductTests.errorCode($0) == "not_found")
                }
                for bad in ["abc", "5f00000000000000000000zz", "5f000000000000000000000"] {
                    try await client.execute(uri: "/get/\(bad)", method: .get, headers: customer) {
                        #expect($0.status == .badRequest)
                        #expect(ProductTests.errorCode($0) == "invalid_id")
                    }
                }
                // A product whose inventory record does not exist (stored directly): 200, inventory null.
                let orphan = ProductTests.product("Orphan")
                try await ProductTests.products(runtime).insert(orphan)
                try await client.execute(uri: "/get/\(orphan.id.hex)", method: .get, headers: customer) { response in
                    #expect(response.status == .ok)
                    let json = try ProductTests.json(response)
                    #expect(json["inventory"] == .null)
                    #expect(json["product"]?["name"] == .string("Orphan"))
                }
            }
        }
    }

    @Test("get by id with the inventory service down: 503, not a partial answer")
    func showInventoryDown() async throws {
        let (runtime, app) = try await ProductTests.makeApp(
            inventoryURL: try ProductTests.deadURL(),
            overrides: ["http.client.timeout.ms": "1000"]
        )
        let product = ProductTests.product("Widget")
        try await ProductTests.products(runtime).insert(product)
        let customer = try await ProductTests.auth(runtime, role: .customer)
        try await app.test(.router) { client in
            try await client.execute(uri: "/get/\(product.id.hex)", method: .get, headers: customer) {
                #expect($0.status == .serviceUnavailable)
                #expect(ProductTests.errorCode($0) == "dependency_unavailable")
            }
            // Unknown products are still a 404.
            try await client.execute(uri: "/get/\(MongoObjectID().hex)", method: .get, headers: customer) {
                #expect($0.status == .notFound)
            }
        }
    }

    @Test("delete removes the product and its inventory record; a second delete is a 404")
    func delete() async throws {
        try await ProductTests.withInventory { inventory in
            let (runtime, app) = try await ProductTests.makeApp(inventoryURL: inventory.url)
            let admin = try await ProductTests.auth(runtime)
            try await app.test(.router) { client in
                let id = try await client.execute(
                    uri: "/create",
                    method: .post,
                    headers: admin,
                    body: ProductTests.body(Self.widget)
                ) { response -> String in
                    try #require(
                        try ProductTests.json(response)["_id"].flatMap {
                            if case .string(let s) = $0 { s } else { nil }
                        }
                    )
                }
                #expect(try await ProductTests.inventoryRecord(runtime, id) != nil)
                try await client.execute(uri: "/delete/\(id)", method: .delete, headers: admin) { response in
                    #expect(response.status == .ok)
                    let json = try ProductTests.json(response)
                    #expect(json["deleted"] == .integer(1))
                }
                #expect(try await ProductTests.inventoryRecord(runtime, id) == nil)
                #expect(try await ProductTests.products(runtime).count() == 0)
                try await client.execute(uri: "/get/\(id)", method: .get, headers: admin) {
                    #expect($0.status == .notFound)
                }
                try await client.execute(uri: "/delete/\(id)", method: .delete, headers: admin) {
                    #expect($0.status == .notFound)
                }
                try await client.execute(uri: "/delete/nothex", method: .delete, headers: admin) {
                    #expect($0.status == .badRequest)
                }
                // A product without an inventory record is still deleted.
                let orphan = ProductTests.product("Orphan")
                try await ProductTests.products(runtime).insert(orphan)
                try await client.execute(uri: "/delete/\(orphan.id.hex)", method: .delete, headers: admin) {
                    #expect($0.status == .ok)
                }
                #expect(try await ProductTests.products(runtime).count() == 0)
            }
        }
    }

    @Test("delete with units reserved: 409 pending_reservations, product and record stay")
    func deletePendingReservation() async throws {
        try await ProductTests.withInventory { inventory in
            let (runtime, app) = try await ProductTests.makeApp(inventoryURL: inventory.url)
            let admin = try await ProductTests.auth(runtime)
            try await app.test(.router) { client in
                let id = try await client.execute(
                    uri: "/create",
                    method: .post,
                    headers: admin,
                    body: ProductTests.body(#"{"name":"Widget","category":"tools","price":3,"inventory":10}"#)
                ) { response -> String in
                    try #require(
                        try ProductTests.json(response)["_id"].flatMap {
                            if case .string(let s) = $0 { s } else { nil }
                        }
                    )
                }
                try await ProductTests.reserve(runtime, id, 2)
                try await client.execute(uri: "/delete/\(id)", method: .delete, headers: admin) {
                    #expect($0.status == .conflict)
                    #expect(ProductTests.errorCode($0) == "pending_reservations")
                }
                #expect(try await ProductTests.products(runtime).count() == 1)
                let record = try #require(try await ProductTests.inventoryRecord(runtime, id))
                #expect(record["inventory"]?.numberValue == 8)
                try await client.execute(uri: "/get/\(id)", method: .get, headers: admin) { #expect($0.status == .ok) }
            }
        }
    }

    @Test("delete with the inventory service down: 503, the product stays")
    func deleteInventoryDown() async throws {
        let (runtime, app) = try await ProductTests.makeApp(
            inventoryURL: try ProductTests.deadURL(),
            overrides: ["http.client.timeout.ms": "1000"]
        )
        let product = ProductTests.product("Widget")
        try await ProductTests.products(runtime).insert(product)
        let admin = try await ProductTests.auth(runtime)
        try await app.test(.router) { client in
            try await client.execute(uri: "/delete/\(product.id.hex)", method: .delete, headers: admin) {
                #expect($0.status == .serviceUnavailable)
            }
            #expect(try await ProductTests.products(runtime).count() == 1)
        }
    }
}

@Suite("product create compensation")
struct ProductCompensationTests {
    @Test("the product store fails after the inventory record was created: 503, and the record is deleted again")
    func insertFailureDeletesRecord() async throws {
        // A private store for the product service, stopped under it once the app is running.
        let store = try await DevStoreProcess.start()
        do {
            try await ProductTests.withInventory { inventory in
                let (runtime, app) = try await ProductTests.makeApp(
                    inventoryURL: inventory.url,
                    overrides: ["mongo.uri": store.uri, "mongo.server.selection.timeout.ms": "1000"]
                )
                let admin = try await ProductTests.auth(runtime)
                try await app.test(.router) { client in
                    await store.stop()
                    try await client.execute(
                        uri: "/create",
                        method: .post,
                        headers: admin,
                        body: ProductTests.body(ProductRoutesTests.widget)
                    ) {
                        #expect($0.status == .serviceUnavailable)
                    }
                }
                // The inventory record was created (the product id reached it) and then deleted again.
                #expect(try await inventory.recordCount() == 0)
            }
        } catch {
            await store.stop()
            throw error
        }
        await store.stop()
    }
}
