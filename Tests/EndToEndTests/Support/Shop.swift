import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ServiceKit
import TestSupport
import Testing

/// What a client of the platform does, over HTTP with bearer tokens, and nothing else: register and log in, create
/// products as the admin, fill a cart, order, and look at the results through the public routes.
struct Shop: Sendable {
    typealias Service = Stack.Service

    /// A logged-in user.
    struct Account: Sendable {
        var id: String
        var email: String
        var token: String
    }

    typealias Answer = HTTPAnswer

    let admin: Account

    /// A shop client with the admin logged in (the admin is seeded by the user service from `ADMIN_*`).
    static func open() async throws -> Shop {
        let email = try #require(Stack.settings["ADMIN_EMAIL"])
        let password = try #require(Stack.settings["ADMIN_PASSWORD"])
        return Shop(admin: try await Self.login(email: email, password: password))
    }

    // MARK: - Users and carts

    /// Registers a customer, logs in, and (unless told not to) waits for the cart service to have created the empty
    /// cart.
    func register(waitForCart: Bool = true) async throws -> Account {
        let email = "\(TestEnvironment.uniqueName("shopper"))@example.com"
        let password = "correct horse battery staple"
        let created = try await Self.call(
            .POST,
            .user,
            "/register",
            body: #"{"name":"Shopper","email":"\#(email)","password":"\#(password)"}"#
        )
        try #require(created.status == 201, "register: \(created)")
        let account = try await Self.login(email: email, password: password)
        #expect(account.id == created.string("_id"))
        guard waitForCart else { return account }
        let cartCreated = try await eventually {
            try await Self.call(.GET, .cart, "/user/\(account.id)", token: account.token).status == 200
        }
        try #require(cartCreated, "no cart for \(account.id) after user-created")
        return account
    }

    static func login(email: String, password: String) async throws -> Account {
        let answer = try await self.call(
            .POST,
            .user,
            "/login",
            body: #"{"email":"\#(email)","password":"\#(password)"}"#
        )
        try #require(answer.status == 200, "login: \(answer)")
        let token = try #require(answer.string("token"))
        let me = try await self.call(.GET, .user, "/me", token: token)
        return Account(id: try #require(me.string("_id"), "\(me)"), email: email, token: token)
    }

    func addToCart(_ account: Account, _ productID: String, quantity: Int) async throws -> Answer {
        try await Self.call(
            .POST,
            .cart,
            "/addtocart",
            body: #"{"userId":"\#(account.id)","productId":"\#(productID)","quantity":\#(quantity)}"#,
            token: account.token
        )
    }

    /// The cart's lines.
    func cart(_ account: Account) async throws -> [JSONValue] {
        try await Self.call(.GET, .cart, "/user/\(account.id)", token: account.token).array
    }

    // MARK: - Catalog and stock

    /// Creates a product with `stock` units as the admin; returns its id.
    func createProduct(price: Double, stock: Int) async throws -> String {
        let answer = try await Self.call(
            .POST,
            .product,
            "/create",
            body:
                #"{"name":"\#(TestEnvironment.uniqueName("lamp"))","category":"home","price":\#(price),"inventory":\#(stock)}"#,
            token: self.admin.token
        )
        try #require(answer.status == 201, "create product: \(answer)")
        return try #require(answer.string("_id"))
    }

    struct Stock: Equatable, Sendable, CustomStringConvertible {
        var available: Int
        var reserved: Int
        var sold: Int
        var description: String { "available \(self.available), reserved \(self.reserved), sold \(self.sold)" }
    }

    /// The inventory service's record of the product.
    func stock(_ productID: String) async throws -> Stock {
        let answer = try await Self.call(.GET, .inventory, "/get/\(productID)", token: self.admin.token)
        try #require(answer.status == 200, "stock: \(answer)")
        return Stock(
            available: Int(answer.json?["inventory"]?.numberValue ?? -1),
            reserved: Int(answer.json?["reserved"]?.numberValue ?? -1),
            sold: Int(answer.json?["sold"]?.numberValue ?? -1)
        )
    }

    /// Polls the product's stock until it is `expected`; returns the last one seen.
    func waitForStock(_ productID: String, _ expected: Stock) async throws -> Stock {
        var last = try await self.stock(productID)
        _ = try await eventually {
            last = try await self.stock(productID)
            return last == expected
        }
        return last
    }

    /// The reservation's `status` (`PENDING`, `COMMITTED`, `CANCELLED`, `EXPIRED`).
    func reservationStatus(_ reservationID: String) async throws -> String? {
        try await Self.call(.GET, .inventory, "/reservations/\(reservationID)", token: self.admin.token)
            .string("status")
    }

    // MARK: - Orders, payments, notifications

    func placeOrder(
        _ account: Account,
        paymentInfo: String = "tok_visa",
        idempotencyKey: String? = nil
    ) async throws -> Answer {
        var headers: [(String, String)] = []
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        return try await Self.call(
            .POST,
            .order,
            "/order",
            body: #"{"userId":"\#(account.id)","address":"1 Main St","paymentInfo":"\#(paymentInfo)"}"#,
            token: account.token,
            headers: headers
        )
    }

    func order(_ orderID: String, as account: Account) async throws -> Answer {
        try await Self.call(.GET, .order, "/order/\(orderID)", token: account.token)
    }

    /// Polls the order until its status is `expected`; returns the last status seen.
    func waitForOrder(_ orderID: String, _ expected: String, as account: Account) async throws -> String? {
        var last: String?
        _ = try await eventually {
            last = try await self.order(orderID, as: account).string("status")
            return last == expected
        }
        return last
    }

    func orders(of account: Account) async throws -> [JSONValue] {
        try await Self.call(.GET, .order, "/order/user/\(account.id)", token: account.token).array
    }

    /// The order's payments, as the owner sees them.
    func payments(_ orderID: String, as account: Account) async throws -> [JSONValue] {
        let answer = try await Self.call(.GET, .payment, "/payments?orderId=\(orderID)", token: account.token)
        #expect(answer.status == 200, "payments: \(answer)")
        return answer.array
    }

    /// The user's notifications, as the user sees them.
    func notifications(_ account: Account) async throws -> [JSONValue] {
        try await Self.call(.GET, .notification, "/notifications?userId=\(account.id)", token: account.token).array
    }

    /// The user's notifications of one event type (`user-created`, `payment.succeeded`, …).
    func notifications(_ account: Account, type: String) async throws -> [JSONValue] {
        try await self.notifications(account).filter { $0["type"]?.stringValue == type }
    }

    // MARK: - HTTP

    static func call(
        _ method: HTTPMethod,
        _ service: Service,
        _ path: String,
        body: String? = nil,
        token: String? = nil,
        headers: [(String, String)] = []
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: service.defaultURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await HTTPAnswer.fetch(request, timeout: .seconds(30))
    }
}
