import Foundation
import Hummingbird
import HummingbirdTesting
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import TestSupport
import Testing

@testable import CartService
@testable import UserService

/// The chain across two services, both real, through the real store and broker: registering with the user service
/// gives the user an empty cart in the cart service; deleting the user removes it.
@Suite(.timeLimit(.minutes(3)))
struct UserCartChainTests {
    struct Registered: Decodable {
        var _id: String
    }

    @Test("register → an empty cart appears; delete the user → the cart is gone")
    func registerThenDelete() async throws {
        let userRuntime = try await TestRuntimes.make(.user, overrides: ["bcrypt.cost": "4"])
        let userApp = try await UserService.buildApplication(userRuntime)
        let (cartRuntime, cartApp) = try await CartTests.makeApp(overrides: [:])
        let carts = CartTests.carts(cartRuntime)
        let admin = try await CartTests.auth(cartRuntime, CartTests.newID(), role: .admin)
        try await userApp.test(.router) { users in
            try await cartApp.test(.router) { cart in
                let email = "\(TestEnvironment.uniqueName("chain"))@example.com"
                let registered = try await users.execute(
                    uri: "/register",
                    method: .post,
                    headers: [.contentType: "application/json"],
                    body: ByteBuffer(
                        string: #"{"name":"Chain","email":"\#(email)","password":"correct horse battery"}"#
                    )
                ) { response -> Registered in
                    #expect(response.status == .created)
                    return try JSONDecoder().decode(Registered.self, from: Data(Array(buffer: response.body)))
                }
                let userID = registered._id
                #expect(try await eventually { try await carts.count(["_id": .string(userID)]) == 1 })
                try await cart.execute(uri: "/user/\(userID)", method: .get, headers: admin) {
                    #expect($0.status == .ok)
                    #expect(String(buffer: $0.body) == "[]")
                }
                try await users.execute(uri: "/users/\(userID)", method: .delete, headers: admin) {
                    #expect($0.status.code < 300, "\(String(buffer: $0.body))")
                }
                #expect(try await eventually { try await carts.count(["_id": .string(userID)]) == 0 })
                try await cart.execute(uri: "/user/\(userID)", method: .get, headers: admin) {
                    #expect($0.status == .notFound)
                }
            }
        }
    }
}
