import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KafkaBus
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

@testable import PaymentService

/// The payment service, built as `main` builds it, against the real dev store and dev broker. Only its peer, the
/// order service, is a stub: a small live HTTP server answering `GET /order/{id}`.
@Suite(.timeLimit(.minutes(3)))
struct PaymentServiceTests {
    // MARK: The order peer

    /// The orders the stub order service knows; it answers `GET /order/{id}` with `{_id, userId, total, status}`
    /// (only to a service token), 404 for others.
    final class OrderPeer: Sendable {
        struct Order: Codable, Sendable {
            var _id: String
            var userId: String
            var total: Double
            var status: String
        }
        let orders = Mutex<[String: Order]>([:])
        let calls = Atomic<Int>(0)

        func add(userId: String, total: Double) -> String {
            let id = MongoObjectID().hex
            self.orders.withLock { $0[id] = Order(_id: id, userId: userId, total: total, status: "pending") }
            return id
        }
    }

    /// Runs `body` with a live stub order service; passes its base URL.
    static func withOrderPeer(_ body: @escaping @Sendable (OrderPeer, String) async throws -> Void) async throws {
        let peer = OrderPeer()
        let authority = await TokenAuthority(configuration: try AuthConfiguration(secret: TestRuntimes.jwtSecret))
        let router = Router()
        router.get("/order/:id") { request, context -> Response in
            peer.calls.add(1, ordering: .relaxed)
            let token = request.headers[.authorization]?.replacingOccurrences(of: "Bearer ", with: "") ?? ""
            guard (try? await authority.verify(token).role) == .service else { return Response(status: .unauthorized) }
            let id = try context.parameters.require("id")
            guard let order = peer.orders.withLock({ $0[id] }) else { return Response(status: .notFound) }
            let json = try JSONEncoder().encode(order)
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: json))
            )
        }
        try await Application(router: router).test(.live) { client in
            try await body(peer, "http://127.0.0.1:\(try #require(client.port))")
        }
    }

    // MARK: The app

    static func makeApp(
        orderURL: String,
        _ overrides: [String: String] = [:]
    ) async throws
        -> (ServiceRuntime, some ApplicationProtocol)
    {
        let runtime = try await TestRuntimes.make(
            .payment,
            overrides: ["order.url": orderURL, "outbox.poll.interval.ms": "200"]
                .merging(overrides) { $1 }
        )
        return (runtime, try await buildApplication(runtime))
    }

    static func cleanUp(_ runtime: ServiceRuntime) async {
        try? await runtime.store.dropDatabase()
        await runtime.store.close()
    }

    static func payments(_ runtime: ServiceRuntime) -> MongoCollection<Payment> {
        runtime.store.collection(PaymentRepository.collectionName, as: Payment.self)
    }

    /// Messages on `payment-events` seen by a new consumer group.
    final class Received: Sendable {
        let messages = Mutex<[KafkaBusMessage]>([])
        func events(orderId: String) -> [(key: String?, body: [String: Any])] {
            self.messages.withLock { $0 }.compactMap { message in
                guard let body = try? JSONSerialization.jsonObject(with: Data(message.value)) as? [String: Any],
                    body["orderId"] as? String == orderId
                else { return nil }
                return (message.key, body)
            }
        }
    }

    static func consumer(_ runtime: ServiceRuntime, into received: Received) throws -> KafkaBusConsumer {
        try runtime.makeConsumer(
            groupID: TestEnvironment.uniqueName("payment-tests"),
            topics: [Topics.paymentEvents.name]
        ) {
            message,
            _ in received.messages.withLock { $0.append(message) }
        }
    }

    static func object(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(Array(buffer: response.body))) as? [String: Any]) ?? [:]
    }

    static func array(_ response: TestResponse) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(Array(buffer: response.body))) as? [[String: Any]]) ?? []
    }

    static func pay(
        _ client: some TestClientProtocol,
        headers: HTTPFields,
        orderId: String,
        userId: String,
        amount: String = "59.97",
        method: String = "card"
    ) async throws -> TestResponse {
        let reservationId = MongoObjectID().hex
        let body =
            #"{"orderId":"\#(orderId)","userId":"\#(userId)","reservationId":"\#(reservationId)","amount":\#(amount),"method":"\#(method)"}"#
        return try await client.executeRequest(
            uri: "/payments",
            method: .post,
            headers: headers,
            body: ByteBuffer(string: body)
        )
    }

    // MARK: Tests

    @Test("a charge: 201 stored and announced once; a repeat answers 200 with the same payment; reads check access")
    func chargeOnce() async throws {
        try await Self.withOrderPeer { peer, url in
            let (runtime, app) = try await Self.makeApp(orderURL: url)
            let received = Received()
            let consumer = try Self.consumer(runtime, into: received)
            try await withRunning([consumer.run]) {
                try await app.test(.router) { client in
                    let user = MongoObjectID().hex
                    let orderId = peer.add(userId: user, total: 19.99 * 3)
                    let service = try await runtime.bearerHeaders(userID: "order-service", role: .service)
                    let first = try await Self.pay(client, headers: service, orderId: orderId, userId: user)
                    #expect(first.status == .created, "\(String(buffer: first.body))")
                    let payment = Self.object(first)
                    let id = try #require(payment["_id"] as? String)
                    #expect(payment["orderId"] as? String == orderId)
                    #expect(payment["userId"] as? String == user)
                    #expect(payment["amount"] as? Double == 59.97)
                    #expect(payment["currency"] as? String == "USD")
                    #expect(payment["method"] as? String == "card")
                    #expect(payment["status"] as? String == "success")
                    #expect(payment["refundedAmount"] as? Double == 0)
                    #expect(payment["gatewayTxnId"] is String)
                    #expect(payment["failureReason"] == nil)
                    #expect(payment["createdAt"] is String && payment["updatedAt"] is String)
                    let stored = try #require(try await Self.payments(runtime).findOne(["orderId": .string(orderId)]))
                    #expect(stored.id.hex == id && stored.status == .success && stored.amountCents == 5997)

                    #expect(await eventually { !received.events(orderId: orderId).isEmpty })
                    let event = try #require(received.events(orderId: orderId).first)
                    #expect(event.key == orderId)
                    #expect(event.body["status"] as? String == "success")
                    #expect(event.body["type"] as? String == "payment.succeeded")
                    #expect(event.body["userId"] as? String == user)
                    #expect(event.body["amount"] as? Double == 59.97)
                    #expect(event.body["method"] as? String == "card")
                    #expect(event.body["reservationId"] as? String == stored.reservationId)
                    #expect((event.body["eventId"] as? String).flatMap(UUID.init(uuidString:)) != nil)
                    let timestamp = try #require(event.body["timestamp"] as? String)
                    #expect((try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(timestamp)) != nil)

                    // The owner repeats it (as the original's order service would, with paymentInfo): 200, the same.
                    let owner = try await runtime.bearerHeaders(userID: user)
                    let repeatBody =
                        #"{"orderId":"\#(orderId)","userId":"\#(user)","reservationId":"\#(MongoObjectID().hex)","amount":59.97,"paymentInfo":"visa"}"#
                    let again = try await client.executeRequest(
                        uri: "/payments",
                        method: .post,
                        headers: owner,
                        body: ByteBuffer(string: repeatBody)
                    )
                    #expect(again.status == .ok, "\(String(buffer: again.body))")
                    peer.orders.withLock { $0[orderId]?.status = "confirmed" }
                    let afterConfirm = try await Self.pay(client, headers: service, orderId: orderId, userId: user)
                    #expect(afterConfirm.status == .ok && Self.object(afterConfirm)["_id"] as? String == id)
                    #expect(Self.object(again)["_id"] as? String == id)
                    #expect(try await Self.payments(runtime).count(["orderId": .string(orderId)]) == 1)

                    // Reads: owner 200, another customer 403, admin 200; no token 401.
                    let other = try await runtime.bearerHeaders(userID: MongoObjectID().hex)
                    let admin = try await runtime.bearerHeaders(userID: MongoObjectID().hex, role: .admin)
                    for (headers, status) in [(owner, HTTPResponse.Status.ok), (other, .forbidden), (admin, .ok)] {
                        let one = try await client.executeRequest(
                            uri: "/payments/\(id)",
                            method: .get,
                            headers: headers,
                            body: nil
                        )
                        #expect(one.status == status)
                        let list = try await client.executeRequest(
                            uri: "/payments?orderId=\(orderId)",
                            method: .get,
                            headers: headers,
                            body: nil
                        )
                        #expect(list.status == status)
                        if status == .ok {
                            #expect(Self.object(one)["_id"] as? String == id)
                            #expect(Self.array(list).map { $0["_id"] as? String } == [id])
                        }
                    }
                    for uri in ["/payments/\(id)", "/payments?orderId=\(orderId)"] {
                        let anonymous = try await client.executeRequest(uri: uri, method: .get, headers: [:], body: nil)
                        #expect(anonymous.status == .unauthorized)
                    }
                    let post = try await Self.pay(
                        client,
                        headers: [.contentType: "application/json"],
                        orderId: orderId,
                        userId: user
                    )
                    #expect(post.status == .unauthorized)
                    let missing = try await client.executeRequest(
                        uri: "/payments/\(MongoObjectID().hex)",
                        method: .get,
                        headers: admin,
                        body: nil
                    )
                    #expect(missing.status == .notFound)
                    let empty = try await client.executeRequest(
                        uri: "/payments?orderId=\(MongoObjectID().hex)",
                        method: .get,
                        headers: owner,
                        body: nil
                    )
                    #expect(empty.status == .ok && String(buffer: empty.body) == "[]")

                    try await Task.sleep(for: .seconds(1.5))
                    #expect(received.events(orderId: orderId).count == 1)
                }
            }
            await Self.cleanUp(runtime)
        }
    }

    @Test("concurrent duplicate charges of one order: one charge, one 201, the others 200 with it, one event")
    func concurrentDuplicates() async throws {
        try await Self.withOrderPeer { peer, url in
            // A slow processor keeps the first charge in flight while the others arrive.
            let (runtime, app) = try await Self.makeApp(orderURL: url, ["payment.latency.ms": "300"])
            let received = Received()
            let consumer = try Self.consumer(runtime, into: received)
            try await withRunning([consumer.run]) {
                try await app.test(.router) { client in
                    let user = MongoObjectID().hex
                    let orderId = peer.add(userId: user, total: 10)
                    let service = try await runtime.bearerHeaders(userID: "order-service", role: .service)
                    let results = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                        for _ in 0..<8 {
                            group.addTask {
                                // A waiter that the first charge outlasts answers 503 `payment_in_progress` (the
                                // order service asks again).
                                let response = try await retryingWhileBusy("payment_in_progress") {
                                    try await Self.pay(
                                        client,
                                        headers: service,
                                        orderId: orderId,
                                        userId: user,
                                        amount: "10"
                                    )
                                }
                                return (response.status, Self.object(response)["_id"] as? String)
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    #expect(results.filter { $0.0 == .created }.count == 1, "\(results)")
                    #expect(results.filter { $0.0 == .ok }.count == 7, "\(results)")
                    #expect(Set(results.compactMap(\.1)).count == 1)
                    #expect(try await Self.payments(runtime).count(["orderId": .string(orderId)]) == 1)
                    #expect(await eventually { !received.events(orderId: orderId).isEmpty })
                    try await Task.sleep(for: .seconds(1.5))
                    #expect(received.events(orderId: orderId).count == 1)
                }
            }
            await Self.cleanUp(runtime)
        }
    }

    @Test(
        "declined: 402, a failed payment stored and announced; processor unavailable: 503, nothing; then a retry pays"
    )
    func declinedAndUnavailable() async throws {
        try await Self.withOrderPeer { peer, url in
            let (runtime, app) = try await Self.makeApp(orderURL: url)
            let received = Received()
            let consumer = try Self.consumer(runtime, into: received)
            try await withRunning([consumer.run]) {
                try await app.test(.router) { client in
                    let user = MongoObjectID().hex
                    let orderId = peer.add(userId: user, total: 25.5)
                    let owner = try await runtime.bearerHeaders(userID: user)
                    let declined = try await Self.pay(
                        client,
                        headers: owner,
                        orderId: orderId,
                        userId: user,
                        amount: "25.50",
                        method: "card_declined"
                    )
                    #expect(declined.status.code == 402)
                    let error = try #require(declined.errorEnvelope)
                    #expect(error.code == "card_declined")
                    let failed = try #require(try await Self.payments(runtime).findOne(["orderId": .string(orderId)]))
                    #expect(failed.status == .failed && failed.failureReason != nil)
                    #expect(error.message.contains(failed.id.hex))
                    #expect(await eventually { !received.events(orderId: orderId).isEmpty })
                    let event = try #require(received.events(orderId: orderId).first)
                    #expect(event.body["status"] as? String == "failed")
                    #expect(event.body["type"] as? String == "payment.failed")
                    let shown = try await client.executeRequest(
                        uri: "/payments/\(failed.id.hex)",
                        method: .get,
                        headers: owner,
                        body: nil
                    )
                    #expect(Self.object(shown)["status"] as? String == "failed")
                    #expect(Self.object(shown)["failureReason"] is String)

                    let unavailable = try await Self.pay(
                        client,
                        headers: owner,
                        orderId: orderId,
                        userId: user,
                        amount: "25.5",
                        method: "processor_unavailable"
                    )
                    #expect(unavailable.status == .serviceUnavailable)
                    #expect(unavailable.errorEnvelope?.code == "processor_unavailable")
                    #expect(try await Self.payments(runtime).count(["orderId": .string(orderId)]) == 1)

                    let paid = try await Self.pay(
                        client,
                        headers: owner,
                        orderId: orderId,
                        userId: user,
                        amount: "25.5"
                    )
                    #expect(paid.status == .created)
                    let list = try await client.executeRequest(
                        uri: "/payments?orderId=\(orderId)",
                        method: .get,
                        headers: owner,
                        body: nil
                    )
                    #expect(Self.array(list).map { $0["status"] as? String } == ["success", "failed"])
                    #expect(await eventually { received.events(orderId: orderId).count == 2 })
                    try await Task.sleep(for: .seconds(1))
                    #expect(
                        received.events(orderId: orderId).map { $0.body["status"] as? String } == ["failed", "success"]
                    )
                }
            }
            await Self.cleanUp(runtime)
        }
    }

    @Test("order checks (404, 422 user, 422 amount, 503 peer down), 403 for someone else's userId, 400s write nothing")
    func rejections() async throws {
        try await Self.withOrderPeer { peer, url in
            let (runtime, app) = try await Self.makeApp(orderURL: url)
            try await app.test(.router) { client in
                let user = MongoObjectID().hex
                let orderId = peer.add(userId: user, total: 12.34)
                let service = try await runtime.bearerHeaders(userID: "order-service", role: .service)

                let unknown = try await Self.pay(
                    client,
                    headers: service,
                    orderId: MongoObjectID().hex,
                    userId: user,
                    amount: "12.34"
                )
                #expect(unknown.status == .notFound && unknown.errorEnvelope?.code == "order_not_found")
                let wrongUser = try await Self.pay(
                    client,
                    headers: service,
                    orderId: orderId,
                    userId: MongoObjectID().hex,
                    amount: "12.34"
                )
                #expect(wrongUser.status == .unprocessableContent && wrongUser.errorEnvelope?.code == "order_mismatch")
                let wrongAmount = try await Self.pay(
                    client,
                    headers: service,
                    orderId: orderId,
                    userId: user,
                    amount: "12.35"
                )
                #expect(
                    wrongAmount.status == .unprocessableContent && wrongAmount.errorEnvelope?.code == "amount_mismatch"
                )
                let cancelled = peer.add(userId: user, total: 12.34)
                peer.orders.withLock { $0[cancelled]?.status = "cancelled" }
                let notPayable = try await Self.pay(
                    client,
                    headers: service,
                    orderId: cancelled,
                    userId: user,
                    amount: "12.34"
                )
                #expect(notPayable.status == .conflict && notPayable.errorEnvelope?.code == "order_not_payable")
                let someoneElse = try await runtime.bearerHeaders(userID: MongoObjectID().hex)
                let forbidden = try await Self.pay(
                    client,
                    headers: someoneElse,
                    orderId: orderId,
                    userId: user,
                    amount: "12.34"
                )
                #expect(forbidden.status == .forbidden)

                let reservation = MongoObjectID().hex
                let invalid = [
                    #"{"orderId":"nope","userId":"\#(user)","reservationId":"\#(reservation)","amount":12.34}"#,
                    #"{"orderId":"\#(orderId)","userId":"x","reservationId":"\#(reservation)","amount":12.34}"#,
                    #"{"orderId":"\#(orderId)","userId":"\#(user)","reservationId":"","amount":12.34}"#,
                    #"{"orderId":"\#(orderId)","userId":"\#(user)","reservationId":"\#(reservation)","amount":0}"#,
                    #"{"orderId":"\#(orderId)","userId":"\#(user)","reservationId":"\#(reservation)","amount":-5}"#,
                    #"{"orderId":"\#(orderId)","userId":"\#(user)","reservationId":"\#(reservation)","amount":12.345}"#,
                    #"{"orderId":"\#(orderId)","userId":"\#(user)","reservationId":"\#(reservation)"}"#,
                    #"{"orderId":"\#(orderId)","userId":"\#(user)","reservationId":"\#(reservation)","amount":"12.34"}"#,
                    #"not json"#,
                ]
                let callsBefore = peer.calls.load(ordering: .relaxed)
                for body in invalid {
                    let response = try await client.executeRequest(
                        uri: "/payments",
                        method: .post,
                        headers: service,
                        body: ByteBuffer(string: body)
                    )
                    #expect(response.status == .badRequest, "\(body): \(String(buffer: response.body))")
                }
                #expect(peer.calls.load(ordering: .relaxed) == callsBefore)
                #expect(try await Self.payments(runtime).count() == 0)
            }
            await Self.cleanUp(runtime)
        }
        // The order service down: 503, nothing stored.
        let port = try FreePort.find()
        let (runtime, app) = try await Self.makeApp(
            orderURL: "http://127.0.0.1:\(port)",
            ["http.client.timeout.ms": "1000"]
        )
        try await app.test(.router) { client in
            let service = try await runtime.bearerHeaders(userID: "order-service", role: .service)
            let down = try await Self.pay(
                client,
                headers: service,
                orderId: MongoObjectID().hex,
                userId: MongoObjectID().hex
            )
            #expect(down.status == .serviceUnavailable)
            #expect(try await Self.payments(runtime).count() == 0)
        }
        await Self.cleanUp(runtime)
    }

    @Test(
        "refunds: partial 200 (once per Idempotency-Key), over the rest 422, full rest 200, again 409; admin or service"
    )
    func refunds() async throws {
        try await Self.withOrderPeer { peer, url in
            let (runtime, app) = try await Self.makeApp(orderURL: url)
            let received = Received()
            let consumer = try Self.consumer(runtime, into: received)
            try await withRunning([consumer.run]) {
                try await app.test(.router) { client in
                    let user = MongoObjectID().hex
                    let orderId = peer.add(userId: user, total: 100)
                    let owner = try await runtime.bearerHeaders(userID: user)
                    let paid = try await Self.pay(client, headers: owner, orderId: orderId, userId: user, amount: "100")
                    let id = try #require(Self.object(paid)["_id"] as? String)
                    let admin = try await runtime.bearerHeaders(userID: MongoObjectID().hex, role: .admin)
                    let service = try await runtime.bearerHeaders(userID: "order-service", role: .service)
                    func refund(_ body: String?, _ headers: HTTPFields, key: String? = nil) async throws -> TestResponse
                    {
                        var headers = headers
                        if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
                        return try await client.executeRequest(
                            uri: "/payments/\(id)/refund",
                            method: .post,
                            headers: headers,
                            body: body.map { ByteBuffer(string: $0) }
                        )
                    }
                    #expect(try await refund(#"{"amount":30}"#, owner).status == .forbidden)
                    #expect(try await refund(#"{"amount":0}"#, admin).status == .badRequest)
                    #expect(try await refund(#"{"amount":1}"#, admin, key: "a b").status == .badRequest)
                    // The same keyed partial refund twice (a client retrying after a timeout) refunds once.
                    for _ in 0..<2 {
                        let partial = try await refund(#"{"amount":30.25}"#, admin, key: "goodwill-1")
                        #expect(partial.status == .ok, "\(String(buffer: partial.body))")
                        #expect(Self.object(partial)["status"] as? String == "partially_refunded")
                        #expect(Self.object(partial)["refundedAmount"] as? Double == 30.25)
                    }
                    let reused = try await refund(#"{"amount":5}"#, admin, key: "goodwill-1")
                    #expect(
                        reused.status == .unprocessableContent && reused.errorEnvelope?.code == "idempotency_key_reused"
                    )
                    let over = try await refund(#"{"amount":69.76}"#, service)
                    #expect(over.status == .unprocessableContent && over.errorEnvelope?.code == "refund_exceeds_charge")
                    let full = try await refund(nil, service)
                    #expect(full.status == .ok)
                    #expect(Self.object(full)["status"] as? String == "refunded")
                    #expect(Self.object(full)["refundedAmount"] as? Double == 100)
                    let again = try await refund(nil, admin)
                    #expect(again.status == .conflict && again.errorEnvelope?.code == "not_refundable")
                    let missing = try await client.executeRequest(
                        uri: "/payments/\(MongoObjectID().hex)/refund",
                        method: .post,
                        headers: admin,
                        body: nil
                    )
                    #expect(missing.status == .notFound)

                    // A repeat charge of a refunded order is still the one charge: 200, no new charge.
                    let repeatCharge = try await Self.pay(
                        client,
                        headers: owner,
                        orderId: orderId,
                        userId: user,
                        amount: "100"
                    )
                    #expect(repeatCharge.status == .ok && Self.object(repeatCharge)["status"] as? String == "refunded")

                    #expect(await eventually { received.events(orderId: orderId).count == 3 })
                    try await Task.sleep(for: .seconds(1))
                    let events = received.events(orderId: orderId)
                    #expect(events.map { $0.body["status"] as? String } == ["success", "refunded", "refunded"])
                    #expect(
                        events.map { $0.body["type"] as? String } == [
                            "payment.succeeded", "payment.refunded", "payment.refunded",
                        ]
                    )
                    #expect(events.map { $0.body["amount"] as? Double } == [100, 30.25, 69.75])
                    #expect(events.map { $0.body["fullyRefunded"] as? Bool } == [nil, false, true])
                    #expect(events.allSatisfy { $0.key == orderId })
                }
            }
            await Self.cleanUp(runtime)
        }
    }

    @Test("PAYMENT_LATENCY_MS must be an integer from 0 to 60000")
    func latencySetting() async throws {
        for bad in ["-1", "abc", "60001"] {
            let runtime = try await TestRuntimes.make(.payment, overrides: ["payment.latency.ms": bad])
            #expect(throws: ConfigurationError.self) { try PaymentSettings(runtime) }
            await runtime.store.close()
        }
        let runtime = try await TestRuntimes.make(.payment, overrides: ["payment.latency.ms": "250"])
        #expect(try PaymentSettings(runtime).processorLatency == .milliseconds(250))
        await runtime.store.close()
    }

    @Test("amounts: positive, at most two decimals, exact in cents")
    func amounts() {
        #expect(Payment.cents(59.97) == 5997)
        #expect(Payment.cents(19.99 * 3) == 5997)
        #expect(Payment.cents(0.1 + 0.2) == 30)
        #expect(Payment.cents(12.345) == nil)
        #expect(Payment.cents(0) == nil)
        #expect(Payment.cents(-1) == nil)
        #expect(Payment.cents(.infinity) == nil)
    }
}
