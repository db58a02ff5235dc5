import Foundation
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import Testing

@testable import MongoStore

/// The Mongo wrapper against the real dev store (nx-27017) that scripts/test starts.
@Suite(.timeLimit(.minutes(2)))
struct MongoStoreTests {
    struct Address: Codable, Equatable, Sendable {
        var street: String
        var city: String
    }

    struct Line: Codable, Equatable, Sendable {
        var productId: String
        var quantity: Int
        var price: Double
    }

    /// A nested document with every kind of field the services store.
    struct Order: Codable, Equatable, Sendable {
        var id: MongoObjectID
        var userId: String
        var note: String
        var address: Address
        var lines: [Line]
        var items: [String: Int]
        var total: Double
        var big: Int64
        var paid: Bool
        var coupon: String?
        var createdAt: Date

        enum CodingKeys: String, CodingKey {
            case id = "_id"
            case userId, note, address, lines, items, total, big, paid, coupon, createdAt
        }
    }

    static func order(user: String = "u1", total: Double = 31.5) -> Order {
        Order(
            id: MongoObjectID(),
            userId: user,
            note: "quote \" backslash \\ newline \n unicode é 🛒",
            address: Address(street: "1 Main St", city: "Springfield"),
            lines: [Line(productId: "p1", quantity: 2, price: 10.25), Line(productId: "p2", quantity: 1, price: 11)],
            items: ["p1": 2, "p2": 1],
            total: total,
            big: 9_007_199_254_740_993,  // 2^53 + 1: exact only if never passed through a Double
            paid: false,
            coupon: nil,
            // Milliseconds: the precision BSON dates keep.
            createdAt: Date(timeIntervalSince1970: 1_767_225_600.625)
        )
    }

    @Test("a nested Codable document survives insert, find, update, replace and delete")
    func crudRoundTrip() async throws {
        try await TestStores.withStore { store throws in
            let orders = store.collection("orders", as: Order.self)
            let first = Self.order()
            try await orders.insert(first)
            try await orders.insert([Self.order(user: "u2", total: 5), Self.order(user: "u3", total: 50)])

            let loaded = try #require(try await orders.findOne(["_id": .objectID(first.id)]))
            #expect(loaded == first)

            // Nested-path updates: $set into a sub-document, $inc of a map entry (the cart's update form).
            // (No $set of a Bool: the dev store writes it as 1; docs/dev-store-gaps.md.)
            let result = try await orders.updateOne(
                ["_id": .objectID(first.id)],
                ["$set": ["address.city": "Shelbyville", "userId": "u1b"], "$inc": ["items.p1": 3]]
            )
            #expect(result == MongoUpdateResult(matchedCount: 1, modifiedCount: 1, upsertedCount: 0))
            let updated = try #require(try await orders.findOne(["_id": .objectID(first.id)]))
            #expect(updated.address.city == "Shelbyville")
            #expect(updated.items == ["p1": 5, "p2": 1])
            #expect(updated.userId == "u1b")

            // Filter, sort, skip, limit.
            let page = try await orders.find(["total": ["$gte": 5]], sort: ["total": -1], skip: 1, limit: 1)
            #expect(page.map(\.userId) == ["u1b"])
            #expect(try await orders.count(["total": ["$lt": 40]]) == 2)

            // Projection into a smaller type.
            struct UserOnly: Codable, Sendable { var userId: String }
            let users = try await store.collection("orders", as: UserOnly.self)
                .find(sort: ["userId": 1], projection: ["userId": 1, "_id": 0])
            #expect(users.map(\.userId) == ["u1b", "u2", "u3"])

            var replacement = updated
            replacement.note = "replaced"
            replacement.lines = []
            let replaced = try await orders.replaceOne(["_id": .objectID(first.id)], with: replacement)
            #expect(replaced.modifiedCount == 1)
            #expect(try await orders.findOne(["_id": .objectID(first.id)]) == replacement)

            #expect(try await orders.deleteOne(["_id": .objectID(first.id)]) == 1)
            #expect(try await orders.deleteOne(["_id": .objectID(first.id)]) == 0)
            #expect(try await orders.findOne(["_id": .objectID(first.id)]) == nil)
            #expect(try await orders.deleteMany([:]) == 2)
        }
    }

    @Test("an upsert inserts once and then matches")
    func upsert() async throws {
        try await TestStores.withStore { store throws in
            struct Cart: Codable, Equatable, Sendable {
                var _id: String
                var items: [String: Int]
            }
            let carts = store.collection("carts", as: Cart.self)
            let filter: MongoDocument = ["_id": "user-1"]
            let update: MongoDocument = ["$setOnInsert": ["items": [:]]]
            #expect(try await carts.updateOne(filter, update, upsert: true).upsertedCount == 1)
            #expect(try await carts.updateOne(filter, update, upsert: true).upsertedCount == 0)
            #expect(try await carts.find() == [Cart(_id: "user-1", items: [:])])
        }
    }

    @Test("a duplicate key maps to its own error code and writes nothing")
    func duplicateKey() async throws {
        try await TestStores.withStore { store throws in
            struct User: Codable, Sendable {
                var _id: String
                var email: String
            }
            let users = store.collection("users", as: User.self)
            try await users.createIndexes([MongoIndex(keys: ["email": 1], unique: true)])
            try await users.insert(User(_id: "a", email: "ann@example.com"))
            let error = await #expect(throws: MongoStoreError.self) {
                try await users.insert(User(_id: "b", email: "ann@example.com"))
            }
            #expect(error?.code == .duplicateKey)
            #expect(error?.serverCode == 11000)
            #expect(error?.isRetriable == false)
            #expect(try await users.count() == 1)
            // Creating the same index again is a no-op, as services do at every start.
            try await users.createIndexes([MongoIndex(keys: ["email": 1], unique: true)])
        }
    }

    @Test("32 concurrent conditional findAndModify calls never take stock below zero")
    func conditionalDecrementUnderContention() async throws {
        try await TestStores.withStore(threads: 8) { store throws in
            struct Stock: Codable, Sendable {
                var _id: String
                var available: Int
            }
            let stock = store.collection("stock", as: Stock.self)
            try await stock.insert(Stock(_id: "p1", available: 10))
            let successes = try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<32 {
                    group.addTask {
                        try await stock.findOneAndUpdate(
                            ["_id": "p1", "available": ["$gte": 1]],
                            ["$inc": ["available": -1]]
                        )?.available
                    }
                }
                return try await group.reduce(into: [Int]()) { results, left in left.map { results.append($0) } }
            }
            #expect(successes.count == 10)
            #expect(Set(successes) == Set(0..<10))  // every unit handed out exactly once
            #expect(try await stock.findOne(["_id": "p1"])?.available == 0)
        }
    }

    @Test("a transaction that aborts leaves nothing; one that commits leaves everything")
    func transactions() async throws {
        try await TestStores.withStore { store throws in
            struct Row: Codable, Sendable {
                var _id: String
            }
            struct Abort: Error {}
            let users = store.collection("users", as: Row.self)
            let outbox = store.collection("outbox", as: Row.self)
            // Collections exist before any transaction touches them (dev-store.md gap 7).
            try await users.createIndexes([MongoIndex(keys: ["email": 1])])
            try await outbox.createIndexes([MongoIndex(keys: ["createdAt": 1])])

            await #expect(throws: Abort.self) {
                try await store.withTransaction { transaction in
                    try transaction.collection("users", as: Row.self).insert(Row(_id: "u1"))
                    try transaction.collection("outbox", as: Row.self).insert(Row(_id: "e1"))
                    throw Abort()
                }
            }
            #expect(try await users.count() == 0)
            #expect(try await outbox.count() == 0)

            // A failure inside the transaction (duplicate key on the second write) undoes the first write too.
            try await users.insert(Row(_id: "taken"))
            await #expect(throws: MongoStoreError.self) {
                try await store.withTransaction { transaction in
                    try transaction.collection("outbox", as: Row.self).insert(Row(_id: "e2"))
                    try transaction.collection("users", as: Row.self).insert(Row(_id: "taken"))
                }
            }
            #expect(try await outbox.count() == 0)

            let written = try await store.withTransaction { transaction in
                try transaction.collection("users", as: Row.self).insert(Row(_id: "u2"))
                try transaction.collection("outbox", as: Row.self).insert(Row(_id: "e3"))
                return try transaction.collection("users", as: Row.self).count()
            }
            #expect(written == 2)
            #expect(try await outbox.find().map(\._id) == ["e3"])
        }
    }

    @Test("with serial transactions, 16 concurrent transactions all commit and leave the store usable")
    func serialTransactions() async throws {
        try await TestStores.withStore(threads: 8) { store throws in
            struct Row: Codable, Sendable {
                var _id: String
            }
            let users = store.collection("users", as: Row.self)
            let outbox = store.collection("outbox", as: Row.self)
            try await users.createIndexes([MongoIndex(keys: ["email": 1])])
            try await outbox.createIndexes([MongoIndex(keys: ["createdAt": 1])])
            // On the dev store, overlapping transactions fail with "no such savepoint" and can leave one open, after
            // which every other database is refused (gap 17); one at a time, each commits.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<16 {
                    group.addTask {
                        try await store.withTransaction { transaction in
                            try transaction.collection("users", as: Row.self).insert(Row(_id: "u\(index)"))
                            try transaction.collection("outbox", as: Row.self).insert(Row(_id: "e\(index)"))
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await users.count() == 16)
            #expect(try await outbox.count() == 16)
            try await store.ping()
        }
    }

    @Test("a stored document that does not fit the type is a decoding error")
    func decodingError() async throws {
        try await TestStores.withStore { store throws in
            struct Loose: Codable, Sendable {
                var _id: String
                var quantity: String
            }
            struct Strict: Codable, Sendable {
                var _id: String
                var quantity: Int
            }
            try await store.collection("things", as: Loose.self).insert(Loose(_id: "x", quantity: "many"))
            let error = await #expect(throws: MongoStoreError.self) {
                try await store.collection("things", as: Strict.self).find()
            }
            #expect(error?.code == .decoding)
        }
    }

    @Test("an ObjectId is an ObjectId in the store and a plain hex string in JSON")
    func objectIDForms() throws {
        let id = try #require(MongoObjectID("5F1D7A2B3C4D5E6F7A8B9C0D"))
        #expect(id.hex == "5f1d7a2b3c4d5e6f7a8b9c0d")
        #expect(MongoObjectID("not-an-id") == nil)
        #expect(MongoObjectID() != MongoObjectID())
        let plain = String(decoding: try JSONEncoder().encode([id]), as: UTF8.self)
        #expect(plain == #"["5f1d7a2b3c4d5e6f7a8b9c0d"]"#)
        #expect(try JSONDecoder().decode([MongoObjectID].self, from: Data(plain.utf8)) == [id])
        guard case .array(let stored) = try MongoValue(encoding: [id]), case .objectID(let storedID) = stored.first
        else {
            Issue.record("an ObjectId did not encode as .objectID")
            return
        }
        #expect(storedID == id)
    }

    @Test("operations after close fail with the shutdown code")
    func closedStore() async throws {
        let store = try MongoStore(configuration: try TestStores.configuration(), logger: TestStores.logger("test"))
        try await store.ping()
        await store.close()
        let error = await #expect(throws: MongoStoreError.self) { try await store.ping() }
        #expect(error?.code == .shutdown)
        await store.close()  // idempotent
    }

    /// How the "never on an event loop" rule is enforced, shown rather than asserted by timing:
    /// with every store thread stuck in a blocking call (an unreachable server), event loops and the cooperative pool
    /// still run work to completion while those calls are in flight, and the calls run on none of them.
    @Test("blocking libmongoc calls run on the store's own threads, never on an event loop or the cooperative pool")
    func eventLoopsStayFree() async throws {
        let deadPort = try FreePort.find()
        // As many store threads as the machine has cores, and twice as many blocked calls. Each call blocks for the
        // whole server selection timeout, long enough that the checks below finish while every call is still in
        // flight even on a machine loaded many times over.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var configuration = try TestStores.configuration(threads: cores)
        configuration.uri = "mongodb://127.0.0.1:\(deadPort)"
        configuration.serverSelectionTimeout = .seconds(10)
        let store = try MongoStore(configuration: configuration, logger: TestStores.logger("test"))
        /// Shared between the tasks below (an `Atomic` is not copyable, so it lives in a class).
        final class Observations: Sendable {
            let finishedPings = Atomic<Int>(0)
            let ranOnEventLoop = Atomic<Bool>(false)
        }
        let observed = Observations()

        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<(2 * cores) {
                group.addTask {
                    let error = await #expect(throws: MongoStoreError.self) { try await store.ping() }
                    #expect(error?.code == .unavailable)
                    #expect(error?.isRetriable == true)
                    observed.finishedPings.add(1, ordering: .relaxed)
                }
            }
            group.addTask {
                _ = try await store.withConnection { _ in
                    if MultiThreadedEventLoopGroup.currentEventLoop != nil {
                        observed.ranOnEventLoop.store(true, ordering: .relaxed)
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            // Every event loop of the shared group, and a burst of cooperative tasks, complete while pings block.
            for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
                try await loop.submit {}.get()
            }
            try await withThrowingTaskGroup(of: Void.self) { burst in
                for _ in 0..<8 { burst.addTask { try await Task.sleep(for: .milliseconds(1)) } }
                try await burst.waitForAll()
            }
            #expect(observed.finishedPings.load(ordering: .relaxed) == 0)
            try await group.waitForAll()
        }
        #expect(observed.finishedPings.load(ordering: .relaxed) == 2 * cores)
        #expect(observed.ranOnEventLoop.load(ordering: .relaxed) == false)
        await store.close()
    }
}
