import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import StorefrontAdminKit
import StorefrontContracts
import TestSupport
import Testing

@testable import OrderService

/// The staff's routes on the order service: every customer's orders by state (`GET /order`) and the platform's dead
/// letters per topic (`GET /dead-letters`), admins only, against the real services, store and broker.
@Suite("order service: staff routes", .timeLimit(.minutes(5)))
struct StaffRouteTests {
    @Test("GET /order: every customer's orders, newest first, filtered by status and paged; admins only")
    func ordersByStatus() async throws {
        try await OrderStack.with { stack in
            let product = try await stack.newProduct(price: 5, stock: 10)
            let first = try await stack.newUser()
            try await stack.addToCart(first, product, 1)
            let confirmedID = try #require(try await stack.placeOrder(first).string("_id"))
            #expect(try await eventually { try await stack.orderStatus(confirmedID) == "confirmed" })
            let second = try await stack.newUser()
            try await stack.addToCart(second, product, 2)
            let declined = try await stack.placeOrder(second, paymentInfo: "card_declined")
            #expect(declined.string("status") == "failed", "\(declined.text)")
            let failedID = try #require(declined.string("_id"))

            let admin = try await stack.auth(MongoObjectID().hex, .admin)
            func ids(_ query: String) async throws -> [String] {
                let answer = try await stack.call(.get, stack.orderURL, "/order\(query)", headers: admin)
                #expect(answer.status == 200, "\(query): \(answer.text)")
                return answer.array.compactMap { $0["_id"]?.stringValue }
            }
            #expect(try await ids("") == [failedID, confirmedID])
            #expect(try await ids("?status=") == [failedID, confirmedID])
            #expect(try await ids("?status=confirmed") == [confirmedID])
            #expect(try await ids("?status=failed") == [failedID])
            #expect(try await ids("?status=shipped") == [])
            #expect(try await ids("?limit=1") == [failedID])
            #expect(try await ids("?limit=1&offset=1") == [confirmedID])
            let listed = try await stack.call(.get, stack.orderURL, "/order?status=confirmed", headers: admin)
            #expect(listed.array.first?["userId"]?.stringValue == first)
            #expect(listed.array.first?["total"]?.numberValue == 5)

            for query in ["?status=lost", "?limit=0", "?limit=201", "?offset=-1", "?limit=x", "?limit=5&limit=6"] {
                let answer = try await stack.call(.get, stack.orderURL, "/order\(query)", headers: admin)
                #expect(answer.status == 400 && answer.errorCode == "invalid_query", "\(query): \(answer.text)")
            }
            let customer = try await stack.auth(first)
            let forbidden = try await stack.call(.get, stack.orderURL, "/order", headers: customer)
            #expect(forbidden.status == 403 && forbidden.errorCode != nil, "\(forbidden.text)")
            #expect(try await stack.call(.get, stack.orderURL, "/order", headers: [:]).status == 401)
        }
    }

    @Test("GET /dead-letters: pending, claimed and re-driven letters per topic, every topic listed; admins only")
    func deadLetterCounts() async throws {
        let runtime = try await TestRuntimes.make(.order)
        let app = try await buildApplication(
            runtime,
            consumerGroups: .init(
                payment: TestEnvironment.uniqueName("staff-routes-payment"),
                inventory: TestEnvironment.uniqueName("staff-routes-inventory")
            )
        )
        // The letters come from a runtime of their own (the order runtime's producer is the application's). They are
        // user-created's, a topic the order service does not consume: the re-driven one is not dead-lettered again.
        let letters = try await TestRuntimes.make(.cart)
        let producer = try letters.makeProducer()
        let admin = try EventAdmin(configuration: try letters.kafkaConfiguration(), logger: letters.logger)
        try await withRunning([{ try await producer.run() }]) {
            var offsets: [Int64] = []
            for user in ["user-a", "user-b"] {
                offsets.append(try await producer.send(Self.deadLetter(userID: user)).offset)
            }
            let redriven = try await admin.redrive(Topics.userCreated.name, ids: [offsets[0]], producer: producer)
            guard case .published? = redriven.first?.result else {
                Issue.record("not re-driven: \(redriven)")
                return
            }

            try await app.test(.router) { client in
                let staff = try await runtime.bearerHeaders(userID: MongoObjectID().hex, role: .admin)
                try await client.execute(uri: "/dead-letters", method: .get, headers: staff) { response in
                    #expect(response.status == .ok)
                    let counts = try JSONDecoder().decode(
                        [[String: JSONValue]].self,
                        from: Data(Array(buffer: response.body))
                    )
                    #expect(counts.compactMap { $0["topic"]?.stringValue } == Topics.all.map(\.name))
                    for count in counts {
                        let users = count["topic"]?.stringValue == Topics.userCreated.name
                        #expect(count["pending"]?.numberValue == (users ? 1 : 0), "\(count)")
                        #expect(count["redriven"]?.numberValue == (users ? 1 : 0), "\(count)")
                        #expect(count["claimed"]?.numberValue == 0, "\(count)")
                    }
                }
                let customer = try await runtime.bearerHeaders(userID: MongoObjectID().hex)
                try await client.execute(uri: "/dead-letters", method: .get, headers: customer) {
                    #expect($0.status == .forbidden)
                }
                try await client.execute(uri: "/dead-letters", method: .get) { #expect($0.status == .unauthorized) }
            }
        }
        await admin.shutdown()
    }

    /// A `user-created` event as a consumer dead-letters it (`KafkaBusDeadLetter`).
    static func deadLetter(userID: String) -> KafkaBusMessage {
        KafkaBusMessage(
            topic: KafkaBusDeadLetter.topic(for: Topics.userCreated.name),
            key: userID,
            value: Array(#"{"userId":"\#(userID)","email":"\#(userID)@example.com"}"#.utf8),
            headers: EventHeaders.make(version: 1, requestID: "req-\(userID)", trace: [:]).merging([
                KafkaBusDeadLetter.Header.topic: Topics.userCreated.name,
                KafkaBusDeadLetter.Header.partition: "0",
                KafkaBusDeadLetter.Header.offset: "1",
                KafkaBusDeadLetter.Header.key: userID,
                KafkaBusDeadLetter.Header.group: "cart-service-user-created-group",
                KafkaBusDeadLetter.Header.error: "the cart store refused the insert",
                KafkaBusDeadLetter.Header.attempts: "20",
            ]) { $1 }
        )
    }
}
