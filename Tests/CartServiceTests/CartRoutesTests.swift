import Foundation
import Hummingbird
import HummingbirdTesting
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import TestSupport
import Testing

@testable import CartService

/// The HTTP routes against the real store, with the real product and inventory services as the catalog.
@Suite(.timeLimit(.minutes(3)))
struct CartRoutesTests {
    @Test("add, read, change and clear a cart; GET shows the current price and the stock")
    func happyPath() async throws {
        try await CartTests.withCatalog { catalog in
            let (runtime, app) = try await CartTests.makeApp(overrides: catalog.peers)
            let user = CartTests.newID()
            let p1 = try await catalog.product(price: 19.99, stock: 10)
            let p2 = try await catalog.product(price: 5, stock: 3)
            let auth = try await CartTests.auth(runtime, user)
            try await app.test(.router) { client in
                try await client.execute(
                    uri: "/addtocart",
                    method: .post,
                    headers: auth,
                    body: CartTests.addBody(user, p1, 2)
                ) {
                    #expect($0.status == .ok)
                    #expect(String(buffer: $0.body) == #"{"message":"Item added to cart"}"#)
                }
                // Upper-case hex is accepted and normalised, as ObjectIDFromHex did.
                try await client.execute(
                    uri: "/addtocart",
                    method: .post,
                    headers: auth,
                    body: CartTests.addBody(user.uppercased(), p1.uppercased(), 3)
                ) { #expect($0.status == .ok) }
                try await client.execute(
                    uri: "/addtocart",
                    method: .post,
                    headers: auth,
                    body: CartTests.addBody(user, p2, 1)
                ) {
                    #expect($0.status == .ok)
                }
                try await catalog.setPrice(p1, 17.5)  // the price changes after the add: GET shows the current one
                try await client.execute(uri: "/user/\(user)", method: .get, headers: auth) { response in
                    #expect(response.status == .ok)
                    let lines = try CartTests.json(response)
                    guard case .array(let array) = lines else {
                        Issue.record("not an array")
                        return
                    }
                    #expect(array.count == 2)
                    let line = try #require(array.first { $0["productId"] == .string(p1) })
                    #expect(line["quantity"] == .integer(5))
                    #expect(line["product"]?["price"]?.numberValue == 17.5)
                    #expect(line["product"]?["_id"] == .string(p1))
                    #expect(line["inventory"]?["inventory"] == .integer(10))
                }
                // Total in the cart 5 + 6 > 10: refused, nothing changes.
                try await client.execute(
                    uri: "/addtocart",
                    method: .post,
                    headers: auth,
                    body: CartTests.addBody(user, p1, 6)
                ) {
                    #expect($0.status == .conflict)
                    #expect(CartTests.errorCode($0) == "insufficient_stock")
                }
                // A single request beyond the stock.
                try await client.execute(
                    uri: "/addtocart",
                    method: .post,
                    headers: auth,
                    body: CartTests.addBody(user, p2, 4)
                ) {
                    #expect($0.status == .conflict)
                }
                #expect(try await CartTests.carts(runtime).findOne(["_id": .string(user)])?.items[p1]?.quantity == 5)
                // PUT sets a quantity (checked against the stock), 0 removes.
                try await client.execute(
                    uri: "/user/\(user)/items/\(p1)",
                    method: .put,
                    headers: auth,
                    body: CartTests.body(#"{"quantity":8}"#)
                ) {
                    #expect($0.status == .ok)
                }
                try await client.execute(
                    uri: "/user/\(user)/items/\(p1)",
                    method: .put,
                    headers: auth,
                    body: CartTests.body(#"{"quantity":11}"#)
                ) {
                    #expect($0.status == .conflict)
                    #expect(CartTests.errorCode($0) == "insufficient_stock")
                }
                #expect(try await CartTests.carts(runtime).findOne(["_id": .string(user)])?.items[p1]?.quantity == 8)
                try await client.execute(
                    uri: "/user/\(user)/items/\(p2)",
                    method: .put,
                    headers: auth,
                    body: CartTests.body(#"{"quantity":0}"#)
                ) {
                    #expect($0.status == .ok)
                }
                #expect(try await CartTests.carts(runtime).findOne(["_id": .string(user)])?.items[p2] == nil)
                // DELETE of one product.
                try await client.execute(uri: "/user/\(user)/items/\(p2)", method: .delete, headers: auth) {
                    #expect($0.status == .notFound)
                    #expect(CartTests.errorCode($0) == "item_not_found")
                }
                try await client.execute(uri: "/user/\(user)/items/\(p1)", method: .delete, headers: auth) {
                    #expect($0.status == .ok)
                }
                try await client.execute(
                    uri: "/addtocart",
                    method: .post,
                    headers: auth,
                    body: CartTests.addBody(user, p2, 2)
                ) {
                    #expect($0.status == .ok)
                }
                // A product deleted since it was added is left out of the GET.
                let gone = try await catalog.product(stock: 1)
                try await client.execute(
                    uri: "/addtocart",
                    method: .post,
                    headers: auth,
                    body: CartTests.addBody(user, gone, 1)
                ) {
                    #expect($0.status == .ok)
                }
                try await catalog.delete(gone)
                try await client.execute(uri: "/user/\(user)", method: .get, headers: auth) { response in
                    guard case .array(let array) = try CartTests.json(response) else {
                        Issue.record("not an array")
                        return
                    }
                    #expect(array.map { $0["productId"] } == [.string(p2)])
                }
                // Clearing keeps the (now empty) cart: GET answers [].
                try await client.execute(uri: "/delete/\(user)", method: .delete, headers: auth) {
                    #expect($0.status == .ok)
                }
                try await client.execute(uri: "/user/\(user)", method: .get, headers: auth) {
                    #expect($0.status == .ok)
                    #expect(String(buffer: $0.body) == "[]")
                }
                // An admin may act on any cart.
                let admin = try await CartTests.auth(runtime, CartTests.newID(), role: .admin)
                try await client.execute(
                    uri: "/addtocart",
                    method: .post,
                    headers: admin,
                    body: CartTests.addBody(user, p2, 1)
                ) {
                    #expect($0.status == .ok)
                }
                try await client.execute(uri: "/user/\(user)", method: .get, headers: admin) {
                    #expect($0.status == .ok)
                }
            }
        }
    }

    @Test("every route: 401 without a token, 403 for another user's cart, 404 when there is nothing")
    func authAndMissing() async throws {
        try await CartTests.withCatalog { catalog in
            let (runtime, app) = try await CartTests.makeApp(overrides: catalog.peers)
            let (owner, other) = (CartTests.newID(), CartTests.newID())
            let product = try await catalog.product(stock: 5)
            let otherAuth = try await CartTests.auth(runtime, other)
            let ownerAuth = try await CartTests.auth(runtime, owner)
            let routes: [(String, HTTPRequest.Method, ByteBuffer?)] = [
                ("/addtocart", .post, CartTests.addBody(owner, product, 1)),
                ("/user/\(owner)", .get, nil),
                ("/delete/\(owner)", .delete, nil),
                ("/user/\(owner)/items/\(product)", .put, CartTests.body(#"{"quantity":1}"#)),
                ("/user/\(owner)/items/\(product)", .delete, nil),
            ]
            try await app.test(.router) { client in
                for (uri, method, body) in routes {
                    try await client.execute(
                        uri: uri,
                        method: method,
                        headers: [.contentType: "application/json"],
                        body: body
                    ) {
                        #expect($0.status == .unauthorized, "\(method) \(uri)")
                        #expect(CartTests.errorCode($0) == "unauthenticated")
                    }
                    try await client.execute(uri: uri, method: method, headers: otherAuth, body: body) {
                        #expect($0.status == .forbidden, "\(method) \(uri)")
                        #expect(CartTests.errorCode($0) == "forbidden")
                    }
                }
                #expect(try await CartTests.carts(runtime).count() == 0)
                // Missing: no cart, no product.
                try await client.execute(uri: "/user/\(owner)", method: .get, headers: ownerAuth) {
                    #expect($0.status == .notFound)
                    #expect(CartTests.errorCode($0) == "cart_not_found")
                }
                try await client.execute(uri: "/delete/\(owner)", method: .delete, headers: ownerAuth) {
                    #expect($0.status == .notFound)
                    #expect(CartTests.errorCode($0) == "cart_not_found")
                }
                try await client.execute(uri: "/user/\(owner)/items/\(product)", method: .delete, headers: ownerAuth) {
                    #expect($0.status == .notFound)
                    #expect(CartTests.errorCode($0) == "cart_not_found")
                }
                let unknown = CartTests.newID()
                try await client.execute(
                    uri: "/addtocart",
                    method: .post,
                    headers: ownerAuth,
                    body: CartTests.addBody(owner, unknown, 1)
                ) {
                    #expect($0.status == .notFound)
                    #expect(CartTests.errorCode($0) == "product_not_found")
                }
                try await client.execute(
                    uri: "/user/\(owner)/items/\(unknown)",
                    method: .put,
                    headers: ownerAuth,
                    body: CartTests.body(#"{"quantity":1}"#)
                ) {
                    #expect($0.status == .notFound)
                    #expect(CartTests.errorCode($0) == "product_not_found")
                }
                // A product the inventory service does not know has no stock.
                let noStock = try await catalog.product(stock: 1)
                try await catalog.forgetStock(noStock)
                try await client.execute(
                    uri: "/addtocart",
                    method: .post,
                    headers: ownerAuth,
                    body: CartTests.addBody(owner, noStock, 1)
                ) {
                    #expect($0.status == .conflict)
                    #expect(CartTests.errorCode($0) == "insufficient_stock")
                }
                #expect(try await CartTests.carts(runtime).count() == 0)
            }
        }
    }

    @Test("bad input is a 400 with a JSON error, before anything is called or written")
    func badInput() async throws {
        try await CartTests.withCatalog { catalog in
            let (runtime, app) = try await CartTests.makeApp(overrides: catalog.peers)
            let user = CartTests.newID()
            let product = try await catalog.product(stock: 5)
            let auth = try await CartTests.auth(runtime, user)
            let admin = try await CartTests.auth(runtime, CartTests.newID(), role: .admin)
            let cases: [(String, HTTPRequest.Method, String?, String)] = [
                ("/addtocart", .post, "{not json", "bad_request"),
                (
                    "/addtocart", .post, #"{"userId":"\#(user)","productId":"\#(product)","quantity":"2"}"#,
                    "bad_request"
                ),
                (
                    "/addtocart", .post, #"{"userId":"\#(user)","productId":"\#(product)","quantity":1.5}"#,
                    "bad_request"
                ),
                ("/addtocart", .post, #"{"userId":"\#(user)","productId":"\#(product)"}"#, "validation_failed"),
                (
                    "/addtocart", .post, #"{"userId":"\#(user)","productId":"\#(product)","quantity":0}"#,
                    "validation_failed"
                ),
                (
                    "/addtocart", .post, #"{"userId":"\#(user)","productId":"\#(product)","quantity":-3}"#,
                    "validation_failed"
                ),
                ("/addtocart", .post, #"{"userId":"xyz","productId":"\#(product)","quantity":1}"#, "invalid_id"),
                ("/addtocart", .post, #"{"productId":"\#(product)","quantity":1}"#, "invalid_id"),
                ("/addtocart", .post, #"{"userId":"\#(user)","productId":"\#(product)z","quantity":1}"#, "invalid_id"),
                ("/user/12345", .get, nil, "invalid_id"),
                ("/delete/zz\(user.dropFirst(2))", .delete, nil, "invalid_id"),
                ("/user/\(user)/items/nothex", .put, #"{"quantity":1}"#, "invalid_id"),
                ("/user/\(user)/items/\(product)", .put, #"{"quantity":-1}"#, "validation_failed"),
                ("/user/\(user)/items/\(product)", .put, #"{}"#, "validation_failed"),
                ("/user/\(user)/items/nothex", .delete, nil, "invalid_id"),
            ]
            try await app.test(.router) { client in
                for (uri, method, body, code) in cases {
                    for headers in [auth, admin] {
                        try await client.execute(
                            uri: uri,
                            method: method,
                            headers: headers,
                            body: body.map(CartTests.body)
                        ) {
                            #expect($0.status == .badRequest, "\(method) \(uri) \(body ?? "")")
                            #expect(CartTests.errorCode($0) == code, "\(method) \(uri) \(body ?? "")")
                        }
                    }
                }
                #expect(try await CartTests.carts(runtime).count() == 0)
            }
        }
    }

    @Test("product or inventory unreachable: 503 dependency_unavailable and nothing written")
    func peersUnavailable() async throws {
        try await CartTests.withCatalog { catalog in
            let product = try await catalog.product(stock: 5)
            let closed = try FreePort.find()
            let configurations = [
                ["product.url": "http://127.0.0.1:\(closed)", "inventory.url": catalog.services.url(.inventory)],
                ["product.url": catalog.services.url(.product), "inventory.url": "http://127.0.0.1:\(closed)"],
            ]
            for peers in configurations {
                var overrides = peers
                overrides["http.client.timeout.ms"] = "1000"
                let (runtime, app) = try await CartTests.makeApp(overrides: overrides)
                let user = CartTests.newID()
                let auth = try await CartTests.auth(runtime, user)
                try await app.test(.router) { client in
                    try await client.execute(
                        uri: "/addtocart",
                        method: .post,
                        headers: auth,
                        body: CartTests.addBody(user, product, 1)
                    ) {
                        #expect($0.status == .serviceUnavailable)
                        #expect(CartTests.errorCode($0) == "dependency_unavailable")
                    }
                    try await client.execute(
                        uri: "/user/\(user)/items/\(product)",
                        method: .put,
                        headers: auth,
                        body: CartTests.body(#"{"quantity":2}"#)
                    ) {
                        #expect($0.status == .serviceUnavailable)
                    }
                    #expect(try await CartTests.carts(runtime).count() == 0)
                }
            }
        }
    }
}
