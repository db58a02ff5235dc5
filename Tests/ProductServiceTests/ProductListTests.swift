import Foundation
import Hummingbird
import HummingbirdTesting
import MongoStore
import ServiceAuth
import ServiceKit
import TestSupport
import Testing

@testable import ProductService

/// `GET /get` on a seeded catalog of 12 products (distinct names, prices and creation times; three categories), run
/// against the real dev store: every filter, order and page, alone and combined, must return exactly the expected
/// products in the expected order. Products are named by their index in ``catalog``.
@Suite("product list: search, filter, sort, paging")
struct ProductListTests {
    /// (name, category, price, description); creation times increase with the index.
    static let catalog: [(String, String, Double, String)] = [
        ("Alpha Lamp", "lighting", 25, "warm desk light"),  // 0
        ("Bravo Chair", "furniture", 120.5, "oak chair"),  // 1
        ("Charlie Desk", "furniture", 300, "standing desk"),  // 2
        ("Delta Bulb", "lighting", 4.99, "LED bulb, pack of 4"),  // 3
        ("Echo Speaker", "audio", 89.9, "bluetooth speaker with lamp mode"),  // 4
        ("Foxtrot Headphones", "audio", 199.99, "noise cancelling"),  // 5
        ("Golf Cable (2m)", "audio", 9.5, "audio cable"),  // 6
        ("Hotel Rug", "furniture", 75, "wool rug"),  // 7
        ("India Lantern", "lighting", 45, "LAMP oil lantern"),  // 8
        ("Juliet Sofa", "furniture", 899, "three seats"),  // 9
        ("Kilo Mic", "audio", 59.95, "USB microphone"),  // 10
        ("Lima Shade", "lighting", 15, "lamp shade"),  // 11
    ]

    /// Query → the expected product indexes, in order.
    static let cases: [(String, [Int])] = [
        ("", [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),  // default: newest first
        ("sort=-createdAt", [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
        ("sort=price", [3, 6, 11, 0, 8, 10, 7, 4, 1, 5, 2, 9]),
        ("sort=-price", [9, 2, 5, 1, 4, 7, 10, 8, 0, 11, 6, 3]),
        ("sort=name", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
        // q: name or description, case-insensitive, literal.
        ("q=lamp", [11, 8, 4, 0]),
        ("q=LaMp&sort=name", [0, 4, 8, 11]),
        ("q=desk", [2, 0]),
        ("q=(2m)", [6]),
        ("q=%282m%29", [6]),
        ("q=.", []),
        ("q=a.*", []),
        ("q=b%20", [10]),  // percent-decoded: "b " only in "USB microphone"
        ("q=b+", [10]),  // form-decoded (as HTML forms and the original's Go send it): "+" is a space
        ("q=cable+(2m)", [6]),
        ("q=%2B", []),  // an escaped "+" is a literal "+", in no product
        ("q=nothing-like-this", []),
        ("q=", [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
        // category: exact.
        ("category=lighting", [11, 8, 3, 0]),
        ("category=Lighting", []),
        ("category=light", []),
        ("category=furniture&sort=price", [7, 1, 2, 9]),
        // price range, bounds inclusive (300 and 75 are whole numbers, stored as integers).
        ("minPrice=50&maxPrice=200", [10, 7, 5, 4, 1]),
        ("minPrice=300", [9, 2]),
        ("maxPrice=9.5&sort=price", [3, 6]),
        ("minPrice=75&maxPrice=75", [7]),
        ("minPrice=0.5&maxPrice=4.98", []),
        // combinations.
        ("category=audio&minPrice=10&sort=-price", [5, 4, 10]),
        ("q=lamp&category=lighting&sort=name", [0, 8, 11]),
        ("q=o&category=furniture&maxPrice=200&sort=price", [7, 1]),
        ("q=a&category=furniture&maxPrice=200&sort=price", [1]),
        // paging.
        ("limit=5", [11, 10, 9, 8, 7]),
        ("limit=5&offset=5", [6, 5, 4, 3, 2]),
        ("limit=5&offset=10", [1, 0]),
        ("offset=12", []),
        ("offset=11", [0]),
        ("sort=price&limit=3&offset=3", [0, 8, 10]),
        ("category=audio&sort=price&limit=2&offset=1", [10, 4]),
        ("limit=200", [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
        ("limit=1&sort=-price", [9]),
        ("unknown=1&limit=1", [11]),
    ]

    static let badQueries = [
        "sort=foo", "sort=createdAt", "sort=-name", "sort=", "limit=0", "limit=201", "limit=abc", "limit=1.5", "limit=",
        "offset=-1", "offset=x", "minPrice=abc", "minPrice=-1", "maxPrice=nan", "maxPrice=inf",
        "minPrice=10&maxPrice=5",
        "limit=1&limit=2", "q=a&q=b", "q=\(String(repeating: "x", count: 201))",
    ]

    @Test("every parameter and combination returns exactly the expected products, in order; bad parameters → 400")
    func list() async throws {
        let (runtime, app) = try await ProductTests.makeApp(inventoryURL: try ProductTests.deadURL())
        let customer = try await ProductTests.auth(runtime, role: .customer)
        try await app.test(.router) { client in
            // Empty catalog: [] (the original answered null).
            try await client.execute(uri: "/get", method: .get, headers: customer) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "[]")
            }
            let base = Date(timeIntervalSince1970: 1_750_000_000)
            let products = Self.catalog.enumerated().map { index, entry in
                ProductTests.product(
                    entry.0,
                    category: entry.1,
                    price: entry.2,
                    description: entry.3,
                    createdAt: base.addingTimeInterval(Double(index) * 60)
                )
            }
            // Inserted out of order, so the store's natural order is not the answer.
            for index in [5, 0, 11, 3, 8, 1, 10, 2, 7, 4, 9, 6] {
                try await ProductTests.products(runtime).insert(products[index])
            }
            let nameOf = Dictionary(uniqueKeysWithValues: products.enumerated().map { ($1.id.hex, $0) })

            for (query, expected) in Self.cases {
                try await client.execute(uri: "/get?\(query)", method: .get, headers: customer) { response in
                    #expect(response.status == .ok, "\(query)")
                    guard case .array(let items) = try ProductTests.json(response) else {
                        Issue.record("\(query): not an array")
                        return
                    }
                    let got = items.map { item -> Int in
                        guard case .string(let id) = item["_id"] ?? .null else { return -1 }
                        return nameOf[id] ?? -1
                    }
                    #expect(got == expected, "\(query)")
                }
            }
            // The items are whole products.
            try await client.execute(uri: "/get?limit=1&sort=name", method: .get, headers: customer) { response in
                let first = try ProductTests.json(response)
                #expect(
                    first
                        == .array([
                            .object([
                                "_id": .string(products[0].id.hex), "name": .string("Alpha Lamp"),
                                "description": .string("warm desk light"), "category": .string("lighting"),
                                "price": .integer(25),
                                "createdAt": .string("2025-06-15T15:06:40.000Z"),
                                "updatedAt": .string("2025-06-15T15:06:40.000Z"),
                            ])
                        ])
                )
            }
            for query in Self.badQueries {
                try await client.execute(uri: "/get?\(query)", method: .get, headers: customer) { response in
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(ProductTests.errorCode(response) == "invalid_query", "\(query)")
                }
            }
        }
    }

    @Test("the default page is 50 products")
    func defaultLimit() async throws {
        let (runtime, app) = try await ProductTests.makeApp(inventoryURL: try ProductTests.deadURL())
        let customer = try await ProductTests.auth(runtime, role: .customer)
        let base = Date(timeIntervalSince1970: 1_750_000_000)
        try await ProductTests.products(runtime).insert(
            (0..<55).map { ProductTests.product("P\($0)", createdAt: base.addingTimeInterval(Double($0))) }
        )
        try await app.test(.router) { client in
            try await client.execute(uri: "/get", method: .get, headers: customer) { response in
                guard case .array(let items) = try ProductTests.json(response) else {
                    Issue.record("not an array")
                    return
                }
                #expect(items.count == 50)
                #expect(items.first?["name"] == .string("P54"))
            }
        }
    }
}
