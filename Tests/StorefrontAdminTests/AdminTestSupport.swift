import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import KafkaBus
import MongoStore
import NIOCore
import NIOHTTP1
import ServiceAuth
import ServiceKit
import StorefrontAdminKit
import StorefrontContracts
import TestSupport
import Testing

@testable import CartService
@testable import InventoryService
@testable import NotificationService
@testable import OrderService
@testable import PaymentService
@testable import ProductService
@testable import UserService

enum AdminTests {
    /// The Kafka configuration of the running test: the shared dev broker, the test's topic prefix (topics created).
    static func kafkaConfiguration() async throws -> KafkaBusConfiguration {
        let prefix = TestTopics.currentPrefix
        try await TestTopics.prepare(prefix)
        var configuration = KafkaBusConfiguration(brokers: try TestEnvironment.kafkaBrokers(), clientID: "admin-tests")
        configuration.topicPrefix = prefix
        return configuration
    }

    /// Runs `body` with an ``EventAdmin`` on the test's topics; shuts it down afterwards.
    static func withAdmin<T>(_ body: (EventAdmin) async throws -> T) async throws -> T {
        let admin = try EventAdmin(
            configuration: try await self.kafkaConfiguration(),
            joinTimeout: .seconds(60),
            logger: TestStores.logger("admin-tests")
        )
        do {
            let result = try await body(admin)
            await admin.shutdown()
            return result
        } catch {
            await admin.shutdown()
            throw error
        }
    }

    /// Runs `body` with a running producer on the test's topics.
    static func withProducer<T: Sendable>(_ body: (KafkaBusProducer) async throws -> T) async throws -> T {
        try await KafkaBusProducer.withRunning(
            configuration: try await self.kafkaConfiguration(),
            logger: TestStores.logger("admin-tests")
        ) { try await body($0) }
    }

    /// Waits until `group` has handled everything on `topic` (lag 0 on every partition).
    static func caughtUp(_ admin: EventAdmin, _ group: String, _ topic: String) async throws -> Bool {
        try await eventually(.seconds(90)) {
            try await admin.kafka.positions(of: group, topics: [topic]).allSatisfy { $0.lag == 0 }
        }
    }
}

/// The seven services of the platform on live ports, with databases and consumer groups fixed for the test, so that
/// ``run(_:)`` can stop them all and start them again where they were, as a redeployment does.
struct Platform: Sendable {
    /// The consumer groups of the test's services, by role (unique per test: ids are global on the broker).
    struct Groups: Sendable {
        var cart = UserEventsConsumer.Groups(
            userCreated: TestEnvironment.uniqueName("admin-cart-created"),
            userDeleted: TestEnvironment.uniqueName("admin-cart-deleted")
        )
        var cartOrders = TestEnvironment.uniqueName("admin-cart-orders")
        var inventory = InventoryConsumerGroups(
            payments: TestEnvironment.uniqueName("admin-inventory"),
            orders: TestEnvironment.uniqueName("admin-inventory-orders")
        )
        var order = OrderEvents.Groups(
            payment: TestEnvironment.uniqueName("admin-order-payment"),
            inventory: TestEnvironment.uniqueName("admin-order-inventory")
        )
        var notification = NotificationEventsConsumer.Groups(
            userCreated: TestEnvironment.uniqueName("admin-notif-user"),
            userDeleted: TestEnvironment.uniqueName("admin-notif-userdel"),
            payment: TestEnvironment.uniqueName("admin-notif-payment"),
            orders: TestEnvironment.uniqueName("admin-notif-order")
        )

        /// Every (group, topic) the services consume.
        var all: [(group: String, topic: String)] {
            [
                (self.cart.userCreated, Topics.userCreated.name), (self.cart.userDeleted, Topics.userDeleted.name),
                (self.cartOrders, Topics.orderEvents.name), (self.inventory.payments, Topics.paymentEvents.name),
                (self.inventory.orders, Topics.orderEvents.name),
                (self.order.payment, Topics.paymentEvents.name), (self.order.inventory, Topics.inventoryEvents.name),
                (self.notification.userCreated, Topics.userCreated.name),
                (self.notification.userDeleted, Topics.userDeleted.name),
                (self.notification.payment, Topics.paymentEvents.name),
                (self.notification.orders, Topics.orderEvents.name),
            ]
        }
    }

    let groups = Groups()
    let databases: [StorefrontService: String] = Dictionary(
        uniqueKeysWithValues: StorefrontService.allCases.map {
            ($0, TestEnvironment.uniqueName("admin-\($0.rawValue)").replacingOccurrences(of: "-", with: "_"))
        }
    )

    /// The collections whose documents consumers write, by service: what a replay must leave unchanged.
    static let consumerCollections: [StorefrontService: [String]] = [
        .cart: ["carts", "deletedUsers"],
        .inventory: ["inventory", "reservations", Outbox.collectionName],
        .order: ["orders", Outbox.collectionName],
        .notification: ["notifications"],
    ]

    /// Starts every service (on new ports, the same databases and groups), runs `body`, stops them all.
    func run<T: Sendable>(_ body: (Running) async throws -> T) async throws -> T {
        let groups = self.groups
        func overrides(_ service: StorefrontService) -> [String: String] {
            ["mongo.database": self.databases[service]!]
        }
        let services = [
            LiveService(.user, overrides: overrides(.user).merging(["bcrypt.cost": "4"]) { $1 }) { runtime in
                let app = try await UserService.buildApplication(runtime)
                return { try await app.runService() }
            },
            LiveService(.product, overrides: overrides(.product)) { runtime in
                let app = try await ProductService.buildApplication(runtime)
                return { try await app.runService() }
            },
            LiveService(.inventory, overrides: overrides(.inventory)) { runtime in
                let app = try await InventoryService.buildApplication(runtime, consumerGroups: groups.inventory)
                return { try await app.runService() }
            },
            LiveService(.cart, overrides: overrides(.cart)) { runtime in
                let app = try await CartService.buildApplication(
                    runtime,
                    consumerGroups: groups.cart,
                    orderGroup: groups.cartOrders
                )
                return { try await app.runService() }
            },
            LiveService(.order, overrides: overrides(.order)) { runtime in
                let app = try await OrderService.buildApplication(runtime, consumerGroups: groups.order)
                return { try await app.runService() }
            },
            LiveService(.payment, overrides: overrides(.payment)) { runtime in
                let app = try await PaymentService.buildApplication(runtime)
                return { try await app.runService() }
            },
            LiveService(.notification, overrides: overrides(.notification)) { runtime in
                let app = try await NotificationService.buildApplication(runtime, consumerGroups: groups.notification)
                return { try await app.runService() }
            },
        ]
        return try await withLiveServices(services) { live in try await body(Running(services: live)) }
    }

    /// The platform while it runs: calls over real HTTP, as a client makes them, and its stores.
    struct Running: Sendable {
        let services: LiveServices

        func store(_ service: StorefrontService) -> MongoStore { self.services.runtime(service).store }

        /// Every document the consumers wrote, by `service/collection`, sorted by `_id`.
        func snapshot() async throws -> [String: [JSONValue]] {
            var snapshot: [String: [JSONValue]] = [:]
            for (service, collections) in Platform.consumerCollections {
                for name in collections {
                    let documents = try await self.store(service).collection(name, as: JSONValue.self).find()
                    snapshot["\(service.rawValue)/\(name)"] = documents.sorted {
                        Self.text($0["_id"] ?? .null) < Self.text($1["_id"] ?? .null)
                    }
                }
            }
            return snapshot
        }

        static func text(_ value: JSONValue) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }

        func call(
            _ method: HTTPRequest.Method,
            _ service: StorefrontService,
            _ path: String,
            body: String? = nil,
            headers: HTTPFields = [:]
        ) async throws -> HTTPAnswer {
            var request = HTTPClientRequest(url: self.services.url(service) + path)
            request.method = NIOHTTP1.HTTPMethod(rawValue: method.rawValue)
            for field in headers { request.headers.add(name: field.name.rawName, value: field.value) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            return try await HTTPAnswer.fetch(request)
        }

        func auth(_ userID: String, _ role: Role = .customer) async throws -> HTTPFields {
            try await self.services.runtime(.order).bearerHeaders(userID: userID, role: role)
        }

        /// Registers a user (→ `user-created`); returns its id once the cart service made its cart.
        func newUser() async throws -> String {
            let email = "\(TestEnvironment.uniqueName("buyer"))@example.com"
            let answer = try await self.call(
                .post,
                .user,
                "/register",
                body: #"{"name":"Buyer","email":"\#(email)","password":"correct horse battery"}"#
            )
            try #require(answer.status == 201, "register: \(answer)")
            let id = try #require(answer.string("_id"))
            #expect(try await eventually(.seconds(60)) { try await self.cartLines(id) == 0 })
            return id
        }

        /// Deletes a user as an admin (→ `user-deleted`).
        func deleteUser(_ id: String) async throws {
            let answer = try await self.call(.delete, .user, "/users/\(id)", headers: try await self.admin())
            try #require((200..<300).contains(answer.status), "delete user: \(answer)")
        }

        func admin() async throws -> HTTPFields { try await self.auth(MongoObjectID().hex, .admin) }

        /// Creates a product with `stock` units; returns its id once its stock exists.
        func newProduct(price: Double, stock: Int) async throws -> String {
            let answer = try await self.call(
                .post,
                .product,
                "/create",
                body: #"{"name":"Thing","category":"tools","price":\#(price),"inventory":\#(stock)}"#,
                headers: try await self.admin()
            )
            try #require(answer.status == 201, "create: \(answer)")
            let id = try #require(answer.string("_id"))
            #expect(try await eventually(.seconds(60)) { try await self.available(id) == stock })
            return id
        }

        func available(_ productID: String) async throws -> Int? {
            let response = try await self.services.runtime(.inventory).client.send(
                .get,
                to: .inventory,
                path: "/get/\(productID)"
            )
            guard response.status == .ok else { return nil }
            return try response.decode(JSONValue.self, peer: .inventory)["inventory"]?.numberValue.map { Int($0) }
        }

        func addToCart(_ userID: String, _ productID: String, _ quantity: Int) async throws {
            let answer = try await self.call(
                .post,
                .cart,
                "/addtocart",
                body: #"{"userId":"\#(userID)","productId":"\#(productID)","quantity":\#(quantity)}"#,
                headers: try await self.auth(userID)
            )
            try #require(answer.status == 200, "addtocart: \(answer)")
        }

        func cartLines(_ userID: String) async throws -> Int {
            let answer = try await self.call(.get, .cart, "/user/\(userID)", headers: try await self.auth(userID))
            guard case .array(let lines)? = answer.json else { return -1 }
            return lines.count
        }

        /// Places the user's order (`tok_visa` is approved, `card_declined` declined).
        func placeOrder(_ userID: String, paymentInfo: String = "tok_visa") async throws -> HTTPAnswer {
            let answer = try await self.call(
                .post,
                .order,
                "/order",
                body: #"{"userId":"\#(userID)","address":"1 Main St","paymentInfo":"\#(paymentInfo)","cartId":"x"}"#,
                headers: try await self.auth(userID)
            )
            try #require([201, 402].contains(answer.status), "order: \(answer)")
            return answer
        }

        func orderStatus(_ orderID: String) async throws -> String? {
            try await self.call(.get, .order, "/order/\(orderID)", headers: try await self.admin()).string("status")
        }

        /// Waits until every consumer group handled everything and no notification waits for delivery.
        func settle(_ admin: EventAdmin, _ groups: Platform.Groups) async throws {
            for (group, topic) in groups.all {
                #expect(try await AdminTests.caughtUp(admin, group, topic), "\(group) on \(topic) did not catch up")
            }
            let notifications = self.store(.notification).collection("notifications", as: JSONValue.self)
            #expect(
                try await eventually(.seconds(60)) {
                    try await notifications.count(["status": .string("PENDING")]) == 0
                }
            )
        }
    }
}
