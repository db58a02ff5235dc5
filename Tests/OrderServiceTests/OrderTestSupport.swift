import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KafkaBus
import MongoStore
import NIOCore
import NIOHTTP1
import ServiceAuth
import ServiceKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

@testable import CartService
@testable import InventoryService
@testable import OrderService
@testable import PaymentService
@testable import ProductService
@testable import UserService

/// A payment service that misbehaves on purpose, on a live port: it answers the payment service's contract
/// (`POST /payments`, `GET /payments?orderId=`, `POST /payments/{id}/refund`, with the callback
/// `GET {ORDER_URL}/order/{orderId}` and `payment-events` through the real broker), but can answer 503 every time or
/// charge without publishing the event, which the real service never does. Tests that need no misbehaviour use the
/// real payment service (``PaymentPeer/real``).
final class PaymentStub: Sendable {
    enum Mode: Sendable {
        /// 201, a `success` payment and event.
        case approve
        /// 402 `card_declined`, a `failed` payment and event.
        case decline
        /// 503 `processor_unavailable`, nothing stored.
        case unavailable
        /// 202 (accepted: the outcome comes as an event) and a stored `success` payment, but no event (a lost
        /// publish): the order stays pending until an event comes or the sweeper settles it.
        case approveWithoutEvent
        /// No answer until ``PaymentStub/release()`` (or 60 s), then 503; nothing charged: a caller that dies while
        /// waiting dies before the charge.
        case hang
    }

    struct Payment: Sendable, Codable {
        var _id: String
        var orderId: String
        var userId: String
        var reservationId: String
        var amount: Double
        var status: String
    }

    let mode = Mutex<Mode>(.approve)
    private let payments = Mutex<[Payment]>([])
    let calls = Mutex<Int>(0)
    /// Set by ``release()``: requests held by ``Mode/hang`` answer.
    private let released = Mutex(false)
    let orderClient = Mutex<ServiceClient?>(nil)
    let publisher: EventPublisher

    init(publisher: EventPublisher) {
        self.publisher = publisher
    }

    var all: [Payment] { self.payments.withLock { $0 } }

    /// Lets held requests answer (call it before the test ends, so the stub's server can stop).
    func release() { self.released.withLock { $0 = true } }
    func charges(status: String = "success") -> Int { self.all.filter { $0.status == status }.count }

    struct PayBody: Decodable {
        var orderId: String
        var userId: String
        var reservationId: String
        var amount: Double
        var paymentInfo: String?
    }

    private static func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(value)))
        )
    }

    private static func error(_ status: HTTPResponse.Status, _ code: String) throws -> Response {
        try self.json(status, ["error": ["code": code, "message": code]])
    }

    func publish(_ payment: Payment, status: String) async throws {
        let outcomes: [String: PaymentEvent.Outcome] = ["success": .succeeded, "failed": .failed, "failure": .failed]
        var event = PaymentEvent(
            outcomes[status] ?? .refunded,
            orderId: payment.orderId,
            userId: payment.userId,
            reservationId: payment.reservationId,
            amount: payment.amount,
            method: "card",
            paymentId: payment._id
        )
        event.status = status  // as given, also the original's `failure`
        try await self.publisher.publish(event, to: Topics.paymentEvents)
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/payments") { request, context -> Response in
            self.calls.withLock { $0 += 1 }
            guard request.headers[.authorization]?.hasPrefix("Bearer ") == true else {
                return try Self.error(.unauthorized, "unauthenticated")
            }
            let mode = self.mode.withLock { $0 }
            if mode == .unavailable { return try Self.error(.serviceUnavailable, "processor_unavailable") }
            if mode == .hang {
                let deadline = ContinuousClock.now + .seconds(60)
                while !self.released.withLock({ $0 }) && ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(100))
                }
                return try Self.error(.serviceUnavailable, "processor_unavailable")
            }
            let body = try await request.decode(as: PayBody.self, context: context)
            if let existing = self.payments.withLock({ $0.first { $0.orderId == body.orderId } }) {
                return try Self.json(mode == .approveWithoutEvent ? .accepted : .ok, existing)
            }
            // The callback: the order must be stored before payment is asked.
            guard let client = self.orderClient.withLock({ $0 }) else {
                return try Self.error(.internalServerError, "x")
            }
            let answer = try await client.send(.get, to: .order, path: "/order/\(body.orderId)")
            guard answer.status == .ok else { return try Self.error(.notFound, "order_not_found") }
            let order = try answer.decode(JSONValue.self, peer: .order)
            guard order["total"]?.numberValue == body.amount, order["status"] == .string("pending") else {
                return try Self.error(.unprocessableContent, "amount_mismatch")
            }
            let status = mode == .decline ? "failed" : "success"
            let payment = Payment(
                _id: MongoObjectID().hex,
                orderId: body.orderId,
                userId: body.userId,
                reservationId: body.reservationId,
                amount: body.amount,
                status: status
            )
            self.payments.withLock { $0.append(payment) }
            if mode != .approveWithoutEvent { try await self.publish(payment, status: status) }
            if mode == .decline { return try Self.error(HTTPResponse.Status(code: 402), "card_declined") }
            return try Self.json(mode == .approveWithoutEvent ? .accepted : .created, payment)
        }
        router.get("/payments") { request, _ -> Response in
            let orderID = request.uri.queryParameters.get("orderId") ?? ""
            return try Self.json(.ok, self.payments.withLock { $0.filter { $0.orderId == orderID } })
        }
        router.post("/payments/:id/refund") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard
                let payment = self.payments.withLock({ payments -> Payment? in
                    guard let index = payments.firstIndex(where: { $0._id == id && $0.status == "success" }) else {
                        return nil
                    }
                    payments[index].status = "refunded"
                    return payments[index]
                })
            else { return try Self.error(.conflict, "not_refundable") }
            try await self.publish(payment, status: "refunded")
            return try Self.json(.ok, payment)
        }
        return router
    }
}

/// How a test's order service reaches payment.
enum PaymentPeer: Sendable {
    /// The real payment service (simulated processor; `paymentInfo: "card_declined"` declines).
    case real
    /// ``PaymentStub``, for a payment service that misbehaves on purpose (503 every time, a lost event).
    case stub(PaymentStub.Mode)
    /// An address where nothing listens.
    case unreachable
}

/// Every peer of the order service as the real service on a live port (user, cart, product, inventory, and payment
/// unless the test needs it to misbehave), the order service itself, each with a fresh database on the dev store and
/// the test's own topics on the dev broker.
struct OrderStack: Sendable {
    let services: LiveServices
    /// The stand-in payment service, for the tests that ask for one.
    let stub: PaymentStub?
    /// Publishes events as a producer of the test's topics would (replays, late events).
    let publisher: EventPublisher
    /// The services the test starts and stops itself (``Separate``).
    let separate: SeparateServices
    /// Every `order-events` message of the test, as a consumer of the topic sees them.
    let orderEventLog: MessageLog

    /// The order service's runtime (for a separate order process: one on the same database, never run).
    var order: ServiceRuntime { self.separate.orderRuntime ?? self.services.runtime(.order) }
    var inventory: ServiceRuntime { self.separate.inventoryRuntime ?? self.services.runtime(.inventory) }
    var cart: ServiceRuntime { self.separate.cartRuntime ?? self.services.runtime(.cart) }
    var orderURL: String { self.services.url(.order) }
    var userURL: String { self.services.url(.user) }
    var productURL: String { self.services.url(.product) }
    var cartURL: String { self.services.url(.cart) }

    /// Services a test runs apart from the others, to stop and start them again.
    enum Separate: Sendable {
        /// The cart service, in this process: ``withCart(_:)`` runs it (on the same port and database each time).
        case cart
        /// The order service's executable, in its own process: ``startOrder()`` and ``killOrder()`` (SIGKILL).
        case orderProcess
        /// The inventory service, in this process: ``withInventory(_:)`` runs it (same port, database, groups).
        case inventory
    }

    static func with(
        payment: PaymentPeer = .real,
        overrides: [String: String] = [:],
        separate: Set<Separate> = [],
        _ body: @escaping @Sendable (OrderStack) async throws -> Void
    ) async throws {
        let orderOverrides = ["order.sweep.interval.ms": "200"].merging(overrides) { $1 }
        let eventsRuntime = try await TestRuntimes.make(.payment)
        let producer = try eventsRuntime.makeProducer()
        let publisher = EventPublisher(producer: producer)
        let orderEventLog = MessageLog()
        let orderEvents = try eventsRuntime.makeConsumer(
            groupID: TestEnvironment.uniqueName("order-tests-order-events"),
            topics: [Topics.orderEvents.name]
        ) { message, _ in orderEventLog.append(message) }
        let services = [
            LiveService(.inventory) { runtime in
                let app = try await InventoryService.buildApplication(
                    runtime,
                    consumerGroups: .init(
                        payments: TestEnvironment.uniqueName("order-tests-inventory"),
                        orders: TestEnvironment.uniqueName("order-tests-inventory-orders")
                    )
                )
                return { try await app.runService() }
            },
            LiveService(.product) { runtime in
                let app = try await ProductService.buildApplication(runtime)
                return { try await app.runService() }
            },
            LiveService(.user, overrides: ["bcrypt.cost": "4"]) { runtime in
                let app = try await UserService.buildApplication(runtime)
                return { try await app.runService() }
            },
            SeparateServices.cart(),
            LiveService(.order, overrides: orderOverrides) { runtime in
                let app = try await OrderService.buildApplication(
                    runtime,
                    consumerGroups: .init(
                        payment: TestEnvironment.uniqueName("order-tests-payment"),
                        inventory: TestEnvironment.uniqueName("order-tests-inventory-events")
                    )
                )
                return { try await app.runService() }
            },
        ]
        // Every service but payment, which each case adds or stands in for, and those run separately.
        let separated = try await SeparateServices(separate, orderOverrides: orderOverrides)
        let others = services.filter { !separated.ports.keys.contains($0.service) }
        let separatePeers = separated.ports.mapValues { "http://127.0.0.1:\($0)" }
        @Sendable func stack(_ live: LiveServices, _ stub: PaymentStub?) throws -> OrderStack {
            try separated.prepare(peers: live.urls)
            return OrderStack(
                services: live,
                stub: stub,
                publisher: publisher,
                separate: separated,
                orderEventLog: orderEventLog
            )
        }
        try await withRunning([{ try await producer.run() }, { try await orderEvents.run() }]) {
            switch payment {
            case .real:
                let payment = LiveService(.payment) { runtime in
                    let app = try await PaymentService.buildApplication(runtime)
                    return { try await app.runService() }
                }
                try await withLiveServices(others + [payment], peers: separatePeers) { live in
                    try await body(try stack(live, nil))
                }
            case .unreachable:
                let dead = "http://127.0.0.1:\(try FreePort.find())"
                try await withLiveServices(others, peers: separatePeers.merging([.payment: dead]) { $1 }) { live in
                    try await body(try stack(live, nil))
                }
            case .stub(let mode):
                let stub = PaymentStub(publisher: publisher)
                stub.mode.withLock { $0 = mode }
                try await Application(router: stub.router()).test(.live) { peer in
                    defer { stub.release() }
                    let stubURL = "http://127.0.0.1:\(try #require(peer.port))"
                    let peers = separatePeers.merging([.payment: stubURL]) { $1 }
                    try await withLiveServices(others, peers: peers) { live in
                        stub.orderClient.withLock {
                            $0 = ServiceClient(
                                peerURLs: [.order: live.url(.order)],
                                timeout: .seconds(5),
                                tokens: ServiceTokenCache(authority: eventsRuntime.authority, service: .payment)
                            )
                        }
                        try await body(try stack(live, stub))
                    }
                }
            }
        }
        await separated.stopAll()
    }

    /// Runs `body` while the separate cart service runs (``Separate/cart``); stops it afterwards.
    func withCart(_ body: () async throws -> Void) async throws {
        try await withLiveServices([try self.separate.cartService()], peers: self.services.urls) { _ in try await body()
        }
    }

    /// Runs `body` while the separate inventory service runs (``Separate/inventory``); stops it afterwards.
    func withInventory(_ body: () async throws -> Void) async throws {
        try await withLiveServices([try self.separate.inventoryService()], peers: self.services.urls) { _ in
            try await body()
        }
    }

    /// Starts the separate order process (``Separate/orderProcess``) and waits for its `/health`.
    func startOrder() async throws { try await self.separate.startOrder() }

    /// Kills the separate order process with SIGKILL, as a crash would.
    func killOrder() async { await self.separate.killOrder() }

    /// The order's `order-events` events, in the order of the topic (one partition per order), once at least
    /// `count` arrived (or after the default wait).
    func orderEvents(_ orderID: String, count: Int) async -> [OrderEvent] {
        let events = { self.allOrderEvents.filter { $0.orderId == orderID } }
        _ = await eventually { events().count >= count }
        return events()
    }

    /// Every `order-events` event of the test so far.
    var allOrderEvents: [OrderEvent] {
        self.orderEventLog.all.compactMap {
            try? StorefrontJSON.decoder().decode(OrderEvent.self, from: Data($0.value))
        }
    }

    /// Successful (or `status`) charges of the test's orders: the payment service's stored payments, or the stub's.
    func charges(status: String = "success") async throws -> Int {
        if let stub = self.stub { return stub.charges(status: status) }
        let payments = self.services.runtime(.payment).store.collection("payments", as: JSONValue.self)
        return try await payments.count(["status": .string(status)])
    }

    /// Publishes a `payment-events` event for the order's first payment with `status` as given (also the original's
    /// `failure`), as a late or replayed event from the payment service would arrive.
    func replayPayment(_ orderID: String, status: String) async throws {
        let payment = try #require(try await self.payments(orderID).first)
        let outcomes: [String: PaymentEvent.Outcome] = ["success": .succeeded, "failed": .failed, "failure": .failed]
        var event = PaymentEvent(
            outcomes[status] ?? .refunded,
            orderId: orderID,
            userId: payment["userId"]?.stringValue ?? "",
            reservationId: payment["reservationId"]?.stringValue ?? "",
            amount: payment["amount"]?.numberValue ?? 0,
            method: "card",
            paymentId: payment["_id"]?.stringValue ?? ""
        )
        event.status = status
        try await self.publisher.publish(event, to: Topics.paymentEvents)
    }

    // MARK: - Calls (over real HTTP, as a client would)

    typealias Answer = HTTPAnswer

    func call(
        _ method: HTTPRequest.Method,
        _ base: String,
        _ path: String,
        body: String? = nil,
        headers: HTTPFields
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = NIOHTTP1.HTTPMethod(rawValue: method.rawValue)
        for field in headers { request.headers.add(name: field.name.rawName, value: field.value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        return try await HTTPAnswer.fetch(request)
    }

    /// Headers for `userID` in `role` (every test runtime signs with the same secret).
    func auth(_ userID: String, _ role: Role = .customer) async throws -> HTTPFields {
        try await self.order.bearerHeaders(userID: userID, role: role)
    }

    /// Registers a user with the user service; returns its id.
    func newUser() async throws -> String {
        let email = "\(TestEnvironment.uniqueName("buyer"))@example.com"
        let answer = try await self.call(
            .post,
            self.userURL,
            "/register",
            body: #"{"name":"Buyer","email":"\#(email)","password":"correct horse battery"}"#,
            headers: [.contentType: "application/json"]
        )
        #expect(answer.status == 201, "register: \(answer.text)")
        let id = try #require(answer.string("_id"))
        // Wait for the cart service to have consumed `user-created` (its empty cart exists) before adding items:
        // an add that precedes that event was observed to be lost on the dev store (reported to the cart owner).
        #expect(try await eventually { try await self.cartLines(id) == 0 })
        return id
    }

    /// Creates a product (admin) with `stock` units; returns its id once its stock record exists.
    func newProduct(price: Double, stock: Int) async throws -> String {
        let answer = try await self.call(
            .post,
            self.productURL,
            "/create",
            body: #"{"name":"Thing","category":"tools","price":\#(price),"inventory":\#(stock)}"#,
            headers: try await self.auth(MongoObjectID().hex, .admin)
        )
        #expect(answer.status == 201, "create: \(answer.text)")
        let id = try #require(answer.string("_id"))
        #expect(try await eventually { try await self.available(id) == stock })
        return id
    }

    func addToCart(_ userID: String, _ productID: String, _ quantity: Int) async throws {
        let answer = try await self.call(
            .post,
            self.cartURL,
            "/addtocart",
            body: #"{"userId":"\#(userID)","productId":"\#(productID)","quantity":\#(quantity)}"#,
            headers: try await self.auth(userID)
        )
        #expect(answer.status == 200, "addtocart: \(answer.text)")
    }

    /// Puts `quantity` of `productID` into the user's cart directly in the cart service's store.
    func seedCart(_ userID: String, _ productID: String, _ quantity: Int) async throws {
        let now = JSONValue.integer(Int64(Date().timeIntervalSince1970 * 1000))
        try await self.cart.store.collection("carts", as: JSONValue.self).replaceOne(
            ["_id": .string(userID)],
            with: .object([
                "_id": .string(userID), "items": .object([productID: .object(["quantity": .integer(Int64(quantity))])]),
                "createdAt": now, "updatedAt": now,
            ]),
            upsert: true
        )
    }

    /// The quantity of each product in the user's cart.
    func cartQuantities(_ userID: String) async throws -> [String: Int] {
        let answer = try await self.call(.get, self.cartURL, "/user/\(userID)", headers: try await self.auth(userID))
        guard case .array(let lines)? = answer.json else { return [:] }
        var quantities: [String: Int] = [:]
        for line in lines {
            guard let product = line["productId"]?.stringValue, let quantity = line["quantity"]?.numberValue else {
                continue
            }
            quantities[product] = Int(quantity)
        }
        return quantities
    }

    /// The lines the cart service holds apart for each of the user's pending orders (order id → product → quantity),
    /// read from its store.
    func checkouts(_ userID: String) async throws -> [String: [String: Int]] {
        let cart = try await self.cart.store.collection("carts", as: JSONValue.self).findOne(["_id": .string(userID)])
        guard case .object(let checkouts)? = cart?["checkouts"] else { return [:] }
        return checkouts.mapValues { checkout in
            guard case .object(let items)? = checkout["items"] else { return [:] }
            return items.compactMapValues { $0["quantity"]?.numberValue.map { Int($0) } }
        }
    }

    func cartLines(_ userID: String) async throws -> Int {
        let answer = try await self.call(.get, self.cartURL, "/user/\(userID)", headers: try await self.auth(userID))
        guard case .array(let lines)? = answer.json else { return -1 }
        return lines.count
    }

    /// The inventory service's `inventory` (available for sale) and `sold` for the product.
    func available(_ productID: String) async throws -> Int? {
        try await self.stock(productID)?.available
    }

    func stock(_ productID: String) async throws -> (available: Int, sold: Int, reserved: Int)? {
        let response = try await self.inventory.client.send(.get, to: .inventory, path: "/get/\(productID)")
        guard response.status == .ok else { return nil }
        let json = try response.decode(JSONValue.self, peer: .inventory)
        return (
            Int(json["inventory"]?.numberValue ?? -1), Int(json["sold"]?.numberValue ?? -1),
            Int(json["reserved"]?.numberValue ?? -1)
        )
    }

    func placeOrder(
        _ userID: String,
        address: String = "1 Main St",
        key: String? = nil,
        paymentInfo: String = "tok_visa",
        as caller: HTTPFields? = nil
    ) async throws -> Answer {
        var headers: HTTPFields
        if let caller { headers = caller } else { headers = try await self.auth(userID) }
        if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
        return try await self.call(
            .post,
            self.orderURL,
            "/order",
            body: #"{"userId":"\#(userID)","address":"\#(address)","paymentInfo":"\#(paymentInfo)","cartId":"x"}"#,
            headers: headers
        )
    }

    /// The payments of the order: the real payment service's (`GET /payments?orderId=`, service token), or the
    /// stub's.
    func payments(_ orderID: String) async throws -> [JSONValue] {
        if let stub = self.stub {
            let data = try JSONEncoder().encode(stub.all.filter { $0.orderId == orderID })
            return try JSONDecoder().decode([JSONValue].self, from: data)
        }
        let response = try await self.inventory.client.send(.get, to: .payment, path: "/payments?orderId=\(orderID)")
        guard case .array(let payments) = try response.decode(JSONValue.self, peer: .payment) else { return [] }
        return payments
    }

    func orderStatus(_ orderID: String) async throws -> String? {
        let admin = try await self.auth(MongoObjectID().hex, .admin)
        return try await self.call(.get, self.orderURL, "/order/\(orderID)", headers: admin).string("status")
    }

    func orders() -> MongoCollection<OrderService.Order> {
        self.order.store.collection("orders", as: OrderService.Order.self)
    }
}
