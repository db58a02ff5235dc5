import Foundation
import ServiceKit
import StorefrontContracts
import Testing

/// The contracts module against the places that must agree with it without the compiler's help, and its events
/// against the payloads of the original producers.
@Suite
struct ContractsTests {
    private static var repositoryRoot: URL {
        // Tests/ServiceKitTests/ContractsTests.swift → the repository.
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    @Test("compose creates exactly the contracts' topics, with their partition counts")
    func composeTopics() throws {
        let compose = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("compose/docker-compose.yml"),
            encoding: .utf8
        )
        let loop = try #require(compose.split(separator: "\n").first { $0.contains("for topic in ") })
        // `for topic in a b c; do` → [a, b, c]
        let words = loop.split(separator: " ").map { $0.replacingOccurrences(of: ";", with: "") }
        let names = words.drop { $0 != "in" }.dropFirst().filter { !$0.isEmpty && $0 != "do" }
        #expect(names == Topics.all.map(\.name))
        let partitions = Set(Topics.all.map(\.partitions))
        #expect(partitions.count == 1, "compose creates every topic with one partition count")
        #expect(compose.contains("--partitions \(try #require(partitions.first))"))
        // Each one's dead-letter topic, with its partition count.
        #expect(Topics.deadLetters.map(\.name) == names.map { "\($0).dlq" })
        #expect(compose.contains(#"--topic "$$topic.dlq" --partitions \#(Topics.deadLetters[0].partitions) "#))
    }

    @Test("every topic is named once, and each carries its own event type")
    func topicsAreDistinct() {
        #expect(Set(Topics.created.map(\.name)).count == Topics.created.count)
        #expect(Topics.created.allSatisfy { $0.partitions >= 1 })
    }

    @Test("the original producers' payloads decode, and ours round-trip with the same wire keys")
    func originalPayloads() throws {
        let decoder = StorefrontJSON.decoder()
        let original =
            #"{"orderId":"o1","userId":"u1","reservationId":"r1","amount":12.5,"method":"card","status":"failure","timestamp":"2025-01-02T03:04:05.123456789Z"}"#
        let payment = try decoder.decode(PaymentEvent.self, from: Data(original.utf8))
        #expect(payment.outcome == .failed && payment.eventId == nil && payment.amount == 12.5 && payment.key == "o1")
        let user = try decoder.decode(UserCreatedEvent.self, from: Data(#"{"email":"a@b.c","userId":"u1"}"#.utf8))
        #expect(user.userId == "u1" && user.email == "a@b.c" && user.eventId == nil)
        // A key of the wrong type is read as absent, not as an undecodable event.
        let odd = try decoder.decode(
            PaymentEvent.self,
            from: Data(#"{"orderId":"o1","amount":"12","status":"success"}"#.utf8)
        )
        #expect(odd.amount == nil && odd.outcome == .succeeded)

        let ours = PaymentEvent(
            .refunded,
            orderId: "o2",
            userId: "u2",
            reservationId: "r2",
            amount: 3,
            method: "card",
            paymentId: "p2",
            fullyRefunded: false,
            timestamp: Date(timeIntervalSince1970: 1_735_787_045)  // exact on the wire (milliseconds) and in a Double
        )
        let json = try JSONSerialization.jsonObject(with: try StorefrontJSON.encoder().encode(ours)) as? [String: Any]
        #expect(
            Set(json?.keys.map { $0 } ?? [])
                == [
                    "orderId", "userId", "reservationId", "amount", "method", "status", "timestamp", "eventId", "type",
                    "paymentId", "fullyRefunded",
                ]
        )
        #expect(json?["status"] as? String == "refunded" && json?["type"] as? String == "payment.refunded")
        #expect(try decoder.decode(PaymentEvent.self, from: try StorefrontJSON.encoder().encode(ours)) == ours)
    }
}
