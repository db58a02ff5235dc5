import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import MongoStore
import ServiceKit
import StorefrontContracts
import TestSupport
import Testing

@testable import NotificationService

/// The whole service through the real broker: the real user service's `user-created`, and `payment-events` published
/// with a real `KafkaBusProducer` (one of them twice), consumed by the app's consumers and delivered by its loop.
@Suite(.timeLimit(.minutes(3)))
struct NotificationBrokerTests {
    struct OriginalPaymentPayload: Encodable {
        var orderId: String
        var userId: String
        var reservationId = "r-1"
        var amount: Double
        var method = "card"
        var status: String
        var timestamp = "2026-01-02T03:04:05Z"
        var eventId: String
        var type: String
    }

    @Test("through the broker: register → welcome sent; a payment event published twice → one notification, sent once")
    func throughTheBroker() async throws {
        try await NotificationTests.withBrokerApp { app in
            let (runtime, client, publisher, notifications, sender) = (
                app.runtime, app.client, app.publisher, app.notifications, app.sender
            )
            let user = try await app.register()  // the user service publishes user-created
            #expect(
                try await eventually {
                    try await notifications.findOne(["userId": .string(user.id), "type": "user-created"])?
                        .status == .sent
                }
            )
            let welcome = try #require(
                try await notifications.findOne(["userId": .string(user.id), "type": "user-created"])
            )
            #expect(welcome.message == "Welcome to Storefront! Your account \(user.email) has been created.")
            #expect(welcome.email == user.email)
            #expect(sender.sent(welcome.id).count == 1)

            let order = NotificationTests.newID()
            let event = OriginalPaymentPayload(
                orderId: order,
                userId: user.id,
                amount: 12.5,
                status: "success",
                eventId: "pay-\(order)",
                type: "payment.succeeded"
            )
            _ = try await publisher.publishForeign(event, to: Topics.paymentEvents, key: order)
            _ = try await publisher.publishForeign(event, to: Topics.paymentEvents, key: order)
            // A marker after the duplicate, on the same key (same partition, so handled after it).
            var marker = event
            marker.eventId = "marker-\(order)"
            marker.status = "failed"
            marker.type = "payment.failed"
            _ = try await publisher.publishForeign(marker, to: Topics.paymentEvents, key: order)
            let paidID = "pay-\(order):\(user.id)"
            let markerID = "marker-\(order):\(user.id)"
            #expect(
                try await eventually {
                    try await notifications.findOne(["_id": .string(markerID)])?.status == .sent
                }
            )
            #expect(try await notifications.count(["orderId": .string(order)]) == 2)
            let paid = try #require(try await notifications.findOne(["_id": .string(paidID)]))
            #expect(paid.status == .sent)
            #expect(paid.type == "payment.succeeded")
            #expect(
                paid.message
                    == "Your payment of $12.50 for order #\(order) was received. Your order is confirmed."
            )
            #expect(paid.email == user.email)  // looked up in the user service
            #expect(sender.sent(paidID).count == 1)

            // The owner reads them through the routes, newest first.
            let owner = try await runtime.bearerHeaders(userID: user.id)
            try await client.execute(uri: "/notifications?userId=\(user.id)", method: .get, headers: owner) {
                #expect($0.status == .ok)
                struct Item: Decodable {
                    var _id: String
                    var status: String
                }
                let items = try JSONDecoder().decode([Item].self, from: Data(Array(buffer: $0.body)))
                #expect(Set(items.map(\._id)) == [welcome.id, paidID, markerID])
                #expect(items.allSatisfy { $0.status == "SENT" })
            }
        }
    }
}
