import Foundation
import Hummingbird
import HummingbirdTesting
import MongoStore
import ServiceAuth
import ServiceKit
import TestSupport
import Testing

@testable import NotificationService

/// `GET /notifications?userId=` and `GET /notifications/{id}`: access, errors and order.
@Suite(.timeLimit(.minutes(3)))
struct NotificationRoutesTests {
    struct Item: Decodable {
        var _id: String
        var userId: String
        var orderId: String
        var type: String
        var message: String
        var status: String
        var attempts: Int
        var createdAt: String
    }

    static func record(_ id: String, user: String, createdAt: Int64) -> NotificationRecord {
        NotificationRecord(
            id: NotificationRecord.key(eventID: id, userID: user),
            eventId: id,
            userId: user,
            orderId: "",
            type: "user-created",
            message: "hello \(id)",
            status: .sent,
            attempts: 1,
            createdAt: createdAt
        )
    }

    @Test("owner 200 (newest first), other 403, admin 200, no token 401, unknown 404, malformed 400")
    func routes() async throws {
        let runtime = try await TestRuntimes.make(.notification)
        let app = try await NotificationService.buildApplication(
            runtime,
            consumerGroups: NotificationTests.groups(),
            sender: RecordingSender()
        )
        let repository = NotificationRepository(store: runtime.store)
        let user = NotificationTests.newID()
        let older = Self.record("e-old", user: user, createdAt: 1_700_000_000_000)
        let newer = Self.record("e-new", user: user, createdAt: 1_700_000_005_000)
        #expect(try await repository.insertIfAbsent(older))
        #expect(try await repository.insertIfAbsent(newer))
        let owner = try await runtime.bearerHeaders(userID: user)
        let other = try await runtime.bearerHeaders(userID: NotificationTests.newID())
        let admin = try await runtime.bearerHeaders(userID: NotificationTests.newID(), role: .admin)
        try await app.test(.router) { client in
            for headers in [owner, admin] {
                try await client.execute(uri: "/notifications?userId=\(user)", method: .get, headers: headers) {
                    #expect($0.status == .ok)
                    let items = try JSONDecoder().decode([Item].self, from: Data(Array(buffer: $0.body)))
                    #expect(items.map(\._id) == [newer.id, older.id])
                    #expect(items.first?.message == "hello e-new")
                    #expect(items.first?.createdAt == "2023-11-14T22:13:25.000Z")
                }
                try await client.execute(uri: "/notifications/\(older.id)", method: .get, headers: headers) {
                    #expect($0.status == .ok)
                    let item = try JSONDecoder().decode(Item.self, from: Data(Array(buffer: $0.body)))
                    #expect(item._id == older.id && item.userId == user && item.status == "SENT" && item.attempts == 1)
                    #expect(item.orderId == "" && item.type == "user-created")
                }
                // The same id as a client's URL encoder writes it (':' → %3A).
                let encoded = older.id.replacingOccurrences(of: ":", with: "%3A")
                #expect(encoded != older.id)
                try await client.execute(uri: "/notifications/\(encoded)", method: .get, headers: headers) {
                    #expect($0.status == .ok)
                }
            }
            try await client.execute(uri: "/notifications?userId=\(user)", method: .get, headers: other) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/notifications/\(older.id)", method: .get, headers: other) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/notifications?userId=\(user)", method: .get) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/notifications/\(older.id)", method: .get) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/notifications/e-missing:\(user)", method: .get, headers: owner) {
                #expect($0.status == .notFound)
                #expect($0.errorEnvelope?.code == "notification_not_found")
            }
            let stranger = NotificationTests.newID()
            try await client.execute(uri: "/notifications?userId=\(stranger)", method: .get, headers: admin) {
                #expect($0.status == .ok)
                #expect(String(buffer: $0.body) == "[]")
            }
            for uri in [
                "/notifications", "/notifications?userId=abc", "/notifications/not-an-id", "/notifications/x:123",
            ] {
                try await client.execute(uri: uri, method: .get, headers: admin) {
                    #expect($0.status == .badRequest, "\(uri)")
                    #expect($0.errorEnvelope?.code == "invalid_id", "\(uri)")
                }
            }
        }
        await runtime.store.close()
    }
}
