import Foundation
import Hummingbird
import KafkaBus
import ServiceKit
import Synchronization
import TestSupport

@testable import CartService
@testable import InventoryService

/// The services an order test runs apart from the others (``OrderStack/Separate``), to stop and start them again.
/// Their ports are chosen up front (every peer knows them), and their databases and consumer groups are fixed for
/// the test, so that each start resumes where the previous one stopped, as a restarted service does.
final class SeparateServices: Sendable {
    /// The port of each separate service.
    let ports: [StorefrontService: Int]
    /// A runtime on the separate cart's database (for reading its store), when the cart is separate.
    let cartRuntime: ServiceRuntime?
    /// A runtime on the separate inventory's database, whose client reaches it, when the inventory is separate.
    let inventoryRuntime: ServiceRuntime?
    /// A runtime on the order process's database (its store, tokens, a client), when the order runs as a process.
    let orderRuntime: ServiceRuntime?
    private let cartDatabase = TestEnvironment.uniqueName("cart").replacingOccurrences(of: "-", with: "_")
    private let cartGroups = SeparateServices.uniqueCartGroups()
    private let inventoryDatabase = TestEnvironment.uniqueName("inventory").replacingOccurrences(of: "-", with: "_")
    private let inventoryGroups = InventoryConsumerGroups(
        payments: TestEnvironment.uniqueName("order-tests-inventory"),
        orders: TestEnvironment.uniqueName("order-tests-inventory-orders")
    )
    /// The order process's configuration (set by ``prepare(peers:)``, once every peer's URL is known).
    private let orderValues = Mutex<[String: String]>([:])
    private let peers = Mutex<[StorefrontService: String]>([:])
    private let orderProcess = Mutex<ChildProcess?>(nil)
    private let orderOverrides: [String: String]

    init(_ separate: Set<OrderStack.Separate>, orderOverrides: [String: String]) async throws {
        var ports: [StorefrontService: Int] = [:]
        if separate.contains(.cart) { ports[.cart] = try FreePort.find() }
        if separate.contains(.orderProcess) { ports[.order] = try FreePort.find() }
        if separate.contains(.inventory) { ports[.inventory] = try FreePort.find() }
        self.ports = ports
        self.orderOverrides = orderOverrides.merging([
            "mongo.database": TestEnvironment.uniqueName("order").replacingOccurrences(of: "-", with: "_"),
            // A killed member's partitions move on to the restarted one after this long.
            "kafka.session.timeout.ms": "6000",
            "log.level": "info",
        ]) { $1 }
        self.cartRuntime =
            separate.contains(.cart)
            ? try await TestRuntimes.make(.cart, overrides: ["mongo.database": self.cartDatabase]) : nil
        self.inventoryRuntime =
            separate.contains(.inventory)
            ? try await TestRuntimes.make(
                .inventory,
                overrides: [
                    "mongo.database": self.inventoryDatabase,
                    StorefrontService.inventory.urlKey: "http://127.0.0.1:\(ports[.inventory]!)",
                ]
            ) : nil
        self.orderRuntime =
            separate.contains(.orderProcess)
            ? try await TestRuntimes.make(
                .order,
                overrides: ["mongo.database": self.orderOverrides["mongo.database"]!]
            ) : nil
    }

    /// Records where every peer listens; the order process's configuration follows from it.
    func prepare(peers: [StorefrontService: String]) throws {
        self.peers.withLock { $0 = peers }
        let urls = Dictionary(uniqueKeysWithValues: peers.map { ($0.key.urlKey, $0.value) })
        let values = try TestRuntimes.values(.order, overrides: urls.merging(self.orderOverrides) { $1 })
        self.orderValues.withLock { $0 = values }
    }

    /// The separate cart service, on its port and database, with its consumer groups.
    func cartService() throws -> LiveService {
        guard let port = self.ports[.cart] else { preconditionFailure("the cart does not run separately") }
        return Self.cart(groups: self.cartGroups, overrides: ["mongo.database": self.cartDatabase], port: port)
    }

    /// The separate inventory service, on its port and database, with its consumer groups.
    func inventoryService() throws -> LiveService {
        guard let port = self.ports[.inventory] else { preconditionFailure("the inventory does not run separately") }
        let groups = self.inventoryGroups
        return LiveService(.inventory, overrides: ["mongo.database": self.inventoryDatabase], port: port) { runtime in
            let app = try await InventoryService.buildApplication(runtime, consumerGroups: groups)
            return { try await app.runService() }
        }
    }

    /// The cart service as the other tests run it (not separate): fresh database, unique groups.
    static func cart() -> LiveService {
        self.cart(groups: self.uniqueCartGroups())
    }

    private typealias CartGroups = (created: String, deleted: String, orders: String)

    private static func uniqueCartGroups() -> CartGroups {
        (
            created: TestEnvironment.uniqueName("order-tests-cart-created"),
            deleted: TestEnvironment.uniqueName("order-tests-cart-deleted"),
            orders: TestEnvironment.uniqueName("order-tests-cart-orders")
        )
    }

    private static func cart(groups: CartGroups, overrides: [String: String] = [:], port: Int? = nil) -> LiveService {
        LiveService(.cart, overrides: overrides, port: port) { runtime in
            let app = try await CartService.buildApplication(
                runtime,
                consumerGroups: .init(userCreated: groups.created, userDeleted: groups.deleted),
                orderGroup: groups.orders
            )
            return { try await app.runService() }
        }
    }

    func startOrder() async throws {
        guard let port = self.ports[.order] else { preconditionFailure("the order service does not run separately") }
        let process = try await ServiceProcess.start(.order, port: port, values: self.orderValues.withLock { $0 })
        self.orderProcess.withLock { $0 = process }
    }

    func killOrder() async {
        await self.orderProcess.withLock { $0 }?.kill()
    }

    /// The order process's log, for a failing test's message.
    var orderLog: String {
        guard let file = self.orderProcess.withLock({ $0 })?.logFile else { return "" }
        return String((try? String(contentsOf: file, encoding: .utf8))?.suffix(3000) ?? "")
    }

    func stopAll() async {
        await self.orderProcess.withLock { $0 }?.stop()
    }
}
