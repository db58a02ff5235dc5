import Foundation
import Hummingbird
import HummingbirdTesting
import KafkaBus
import Logging
import MongoStore
import NIOCore
import ServiceAuth
import ServiceKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

@testable import UserService

/// The user service, built as `main` builds it, against the real dev store and dev broker.
@Suite(.timeLimit(.minutes(3)))
struct UserServiceTests {
    static let adminEmail = "admin@storefront.test"
    static let adminPassword = "admin-password-1"

    /// A runtime and the application on it (bcrypt cost 4, a fast outbox poll).
    static func makeApp(_ overrides: [String: String] = [:]) async throws -> (ServiceRuntime, some ApplicationProtocol)
    {
        let runtime = try await TestRuntimes.make(
            .user,
            overrides: ["bcrypt.cost": "4", "outbox.poll.interval.ms": "200"].merging(overrides) { $1 }
        )
        return (runtime, try await buildApplication(runtime))
    }

    static var withAdmin: [String: String] { ["admin.email": Self.adminEmail, "admin.password": Self.adminPassword] }

    static func users(_ runtime: ServiceRuntime) -> MongoCollection<User> {
        runtime.store.collection(UserRepository.collectionName, as: User.self)
    }

    static func outbox(_ runtime: ServiceRuntime) -> MongoCollection<OutboxRecord> {
        runtime.store.collection(Outbox.collectionName, as: OutboxRecord.self)
    }

    static func json(_ token: String? = nil) -> HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return headers
    }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(Array(buffer: response.body))) as? [String: Any])
    }

    static func errorCode(_ response: TestResponse) -> String? {
        ((try? Self.object(response))?["error"] as? [String: Any])?["code"] as? String
    }

    /// Registers an account; returns its id.
    @discardableResult
    static func register(
        _ client: some TestClientProtocol,
        name: String = "Ada Lovelace",
        email: String,
        password: String = "correct horse",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let body = #"{"name":"\#(name)","email":"\#(email)","password":"\#(password)","phone":5551234}"#
        return try await client.execute(
            uri: "/register",
            method: .post,
            headers: Self.json(),
            body: ByteBuffer(string: body)
        ) {
            response in
            #expect(response.status == .created, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
            return try Self.object(response)["_id"] as? String ?? ""
        }
    }

    /// Logs in; returns the whole answer.
    static func login(
        _ client: some TestClientProtocol,
        email: String,
        password: String = "correct horse"
    ) async throws
        -> [String: Any]
    {
        let body = #"{"email":"\#(email)","password":"\#(password)"}"#
        return try await client.execute(
            uri: "/login",
            method: .post,
            headers: Self.json(),
            body: ByteBuffer(string: body)
        ) {
            response in
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            return try Self.object(response)
        }
    }

    static func token(
        _ client: some TestClientProtocol,
        email: String,
        password: String = "correct horse"
    ) async throws
        -> String
    {
        try #require(try await Self.login(client, email: email, password: password)["token"] as? String)
    }

    /// Messages of `topics` seen by a new consumer group (from the earliest offset).
    final class Received: Sendable {
        let messages = Mutex<[KafkaBusMessage]>([])
        func events(topic: String, userId: String) -> [(key: String?, body: [String: Any])] {
            self.messages.withLock { $0 }.filter { $0.topic == topic }.compactMap { message in
                guard let body = try? JSONSerialization.jsonObject(with: Data(message.value)) as? [String: Any],
                    body["userId"] as? String == userId
                else { return nil }
                return (message.key, body)
            }
        }
    }

    static func consumer(_ runtime: ServiceRuntime, into received: Received) throws -> KafkaBusConsumer {
        try runtime.makeConsumer(
            groupID: TestEnvironment.uniqueName("user-tests"),
            topics: [Topics.userCreated.name, Topics.userDeleted.name]
        ) { message, _ in
            received.messages.withLock { $0.append(message) }
        }
    }

    static func cleanUp(_ runtime: ServiceRuntime) async {
        try? await runtime.store.dropDatabase()
        await runtime.store.close()
    }

    // MARK: Register, login, refresh, me

    @Test("register, login, refresh and /me: the happy path, without the hash in any answer")
    func happyPath() async throws {
        let (runtime, app) = try await Self.makeApp()
        try await app.test(.router) { client in
            let spoof =
                #"{"name":"  Ada  ","email":"Ada@Example.COM","password":"correct horse","phone":42,"_id":"aaaaaaaaaaaaaaaaaaaaaaaa","role":"admin"}"#
            let id = try await client.execute(
                uri: "/register",
                method: .post,
                headers: Self.json(),
                body: ByteBuffer(string: spoof)
            ) { response in
                #expect(response.status == .created)
                let body = try Self.object(response)
                #expect(body["name"] as? String == "Ada")
                #expect(body["email"] as? String == "ada@example.com")
                #expect(body["phone"] as? Int == 42)
                #expect(body["role"] as? String == "customer")
                #expect(body["created_at"] is String && body["updated_at"] is String)
                #expect(body["password"] == nil)
                let id = try #require(body["_id"] as? String)
                #expect(MongoObjectID(id) != nil && id != "aaaaaaaaaaaaaaaaaaaaaaaa")
                return id
            }
            let stored = try #require(try await Self.users(runtime).findOne(["_id": .objectID(MongoObjectID(id)!)]))
            #expect(stored.password.hasPrefix("$2") && stored.password != "correct horse")
            #expect(stored.role == .customer && stored.email == "ada@example.com")

            let login = try await Self.login(client, email: "  ADA@example.com", password: "correct horse")
            let token = try #require(login["token"] as? String)
            #expect(login["Token"] as? String == token)
            #expect(login["tokenType"] as? String == "Bearer")
            #expect(login["expiresIn"] as? Int == 900)
            let refreshToken = try #require(login["refreshToken"] as? String)
            let claims = try await runtime.authority.verify(token)
            #expect(claims.userID == id && claims.role == .customer)

            for uri in ["/me", "/users/\(id)", "/users/\(id.uppercased())"] {
                try await client.execute(uri: uri, method: .get, headers: Self.json(token)) { response in
                    #expect(response.status == .ok)
                    let body = try Self.object(response)
                    #expect(body["_id"] as? String == id)
                    #expect(!String(buffer: response.body).contains("password"))
                }
            }

            let refreshed = try await client.execute(
                uri: "/refresh",
                method: .post,
                headers: Self.json(),
                body: ByteBuffer(string: #"{"refreshToken":"\#(refreshToken)"}"#)
            ) { response in
                #expect(response.status == .ok)
                let body = try Self.object(response)
                #expect(body["Token"] as? String == body["token"] as? String)
                return try #require(body["token"] as? String)
            }
            try await client.execute(uri: "/me", method: .get, headers: Self.json(refreshed)) { response in
                #expect(response.status == .ok)
            }
            // An access token is not a refresh token, and a refresh token is not an access token.
            try await client.execute(
                uri: "/refresh",
                method: .post,
                headers: Self.json(),
                body: ByteBuffer(string: #"{"refreshToken":"\#(token)"}"#)
            ) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/me", method: .get, headers: Self.json(refreshToken)) { response in
                #expect(response.status == .unauthorized)
            }
        }
        await Self.cleanUp(runtime)
    }

    @Test("a second account with the same email in another letter case is 409 email_taken and writes nothing")
    func duplicateEmail() async throws {
        let (runtime, app) = try await Self.makeApp()
        try await app.test(.router) { client in
            try await Self.register(client, email: "Grace@Example.com")
            let body = #"{"name":"Grace Two","email":"grace@EXAMPLE.com","password":"another password"}"#
            try await client.execute(
                uri: "/register",
                method: .post,
                headers: Self.json(),
                body: ByteBuffer(string: body)
            ) {
                response in
                #expect(response.status == .conflict)
                #expect(Self.errorCode(response) == "email_taken")
            }
            #expect(try await Self.users(runtime).count() == 1)
            #expect(try await eventually { try await Self.outbox(runtime).count() == 0 })
        }
        await Self.cleanUp(runtime)
    }

    @Test("every validation rule answers 400 before any write")
    func validation() async throws {
        let (runtime, app) = try await Self.makeApp()
        let longName = String(repeating: "n", count: 51)
        let longPassword = String(repeating: "é", count: 37)  // 74 bytes
        let bodies = [
            #"{"name":"A","email":"a@example.com","password":"long enough"}"#,
            #"{"name":"   A   ","email":"a@example.com","password":"long enough"}"#,
            #"{"name":"\#(longName)","email":"a@example.com","password":"long enough"}"#,
            #"{"name":5,"email":"a@example.com","password":"long enough"}"#,
            #"{"name":"Alan","email":"not-an-email","password":"long enough"}"#,
            #"{"name":"Alan","email":"a@b","password":"long enough"}"#,
            #"{"name":"Alan","email":"a b@example.com","password":"long enough"}"#,
            #"{"name":"Alan","email":"a@example.com","password":"short"}"#,
            #"{"name":"Alan","email":"a@example.com","password":"\#(longPassword)"}"#,
            #"{"name":"Alan","email":"a@example.com","password":"long enough","phone":"555"}"#,
            #"{"name":"Alan","email":"a@example.com","password":"long enough","phone":-1}"#,
            #"{"name":"Alan","password":"long enough"}"#,
            #"["not an object"]"#,
            "not json",
        ]
        try await app.test(.router) { client in
            for body in bodies {
                try await client.execute(
                    uri: "/register",
                    method: .post,
                    headers: Self.json(),
                    body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == .badRequest, "\(body) → \(String(buffer: response.body))")
                    #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                }
            }
            #expect(try await Self.users(runtime).count() == 0)
            #expect(try await Self.outbox(runtime).count() == 0)
            // 72 bytes exactly is accepted.
            try await Self.register(client, email: "limit@example.com", password: String(repeating: "é", count: 36))
            #expect(try await Self.users(runtime).count() == 1)
        }
        await Self.cleanUp(runtime)
    }

    @Test("login: an unknown email and a wrong password get the same 401; a malformed body is 400")
    func loginFailures() async throws {
        let (runtime, app) = try await Self.makeApp()
        try await app.test(.router) { client in
            try await Self.register(client, email: "linus@example.com")
            var answers: [String] = []
            for body in [
                #"{"email":"nobody@example.com","password":"correct horse"}"#,
                #"{"email":"linus@example.com","password":"wrong horse!"}"#,
            ] {
                try await client.execute(
                    uri: "/login",
                    method: .post,
                    headers: Self.json(),
                    body: ByteBuffer(string: body)
                ) {
                    response in
                    #expect(response.status == .unauthorized)
                    #expect(Self.errorCode(response) == "invalid_credentials")
                    let error = try #require(try Self.object(response)["error"] as? [String: String])
                    answers.append("\(error["code"] ?? "")|\(error["message"] ?? "")")
                }
            }
            #expect(answers.count == 2 && answers.first == answers.last, "\(answers)")
            try await client.execute(uri: "/login", method: .post, headers: Self.json(), body: ByteBuffer(string: "{}"))
            {
                response in
                #expect(response.status == .badRequest)
            }
        }
        await Self.cleanUp(runtime)
    }

    // MARK: Access

    @Test("protected routes: 401 without a token, 403 for another customer, 400 for a malformed id, 404 when missing")
    func access() async throws {
        let (runtime, app) = try await Self.makeApp(Self.withAdmin)
        try await app.test(.router) { client in
            let alice = try await Self.register(client, email: "alice@example.com")
            let bob = try await Self.register(client, email: "bob@example.com")
            let aliceToken = try await Self.token(client, email: "alice@example.com")
            let adminToken = try await Self.token(client, email: Self.adminEmail, password: Self.adminPassword)
            let missing = MongoObjectID().hex
            let routes: [(HTTPRequest.Method, String)] = [
                (.get, "/users"), (.get, "/users/\(bob)"), (.put, "/users/\(bob)"), (.patch, "/users/\(bob)"),
                (.delete, "/users/\(bob)"), (.get, "/me"),
            ]
            for (method, uri) in routes {
                try await client.execute(uri: uri, method: method, headers: Self.json(), body: ByteBuffer(string: "{}"))
                {
                    response in
                    #expect(response.status == .unauthorized, "\(method) \(uri)")
                }
            }
            for method in [HTTPRequest.Method.get, .put, .patch, .delete] {
                try await client.execute(
                    uri: "/users/\(bob)",
                    method: method,
                    headers: Self.json(aliceToken),
                    body: ByteBuffer(string: #"{"name":"Hacked"}"#)
                ) { response in
                    #expect(response.status == .forbidden, "\(method)")
                }
                for bad in ["123", "zzzzzzzzzzzzzzzzzzzzzzzz", "\(bob)0"] {
                    try await client.execute(
                        uri: "/users/\(bad)",
                        method: method,
                        headers: Self.json(adminToken),
                        body: ByteBuffer(string: "{}")
                    ) { response in
                        #expect(response.status == .badRequest, "\(method) \(bad)")
                        #expect(Self.errorCode(response) == "invalid_id")
                    }
                }
                try await client.execute(
                    uri: "/users/\(missing)",
                    method: method,
                    headers: Self.json(adminToken),
                    body: ByteBuffer(string: #"{"name":"Nobody"}"#)
                ) { response in
                    #expect(response.status == .notFound, "\(method)")
                    #expect(Self.errorCode(response) == "not_found")
                }
            }
            try await client.execute(uri: "/users", method: .get, headers: Self.json(aliceToken)) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/users", method: .get, headers: Self.json(adminToken)) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(!text.contains("password") && !text.contains("$2"))
                let list = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
                #expect(Set(list.compactMap { $0["_id"] as? String }).isSuperset(of: [alice, bob]))
                #expect(list.count == 3)
            }
            // Bob is untouched; a customer can delete itself.
            #expect(
                try await Self.users(runtime).findOne(["_id": .objectID(MongoObjectID(bob)!)])?.name == "Ada Lovelace"
            )
            try await client.execute(uri: "/users/\(alice)", method: .delete, headers: Self.json(aliceToken)) {
                response in
                #expect(response.status == .ok)
            }
            #expect(try await Self.users(runtime).count(["_id": .objectID(MongoObjectID(alice)!)]) == 0)
            // A deleted account can no longer refresh.
        }
        await Self.cleanUp(runtime)
    }

    @Test("updates: whitelisted fields, role only by an admin, password only with the current one, emails unique")
    func updates() async throws {
        let (runtime, app) = try await Self.makeApp(Self.withAdmin)
        try await app.test(.router) { client in
            let carol = try await Self.register(client, email: "carol@example.com")
            try await Self.register(client, email: "dave@example.com")
            let login = try await Self.login(client, email: "carol@example.com")
            let token = try #require(login["token"] as? String)
            let refreshToken = try #require(login["refreshToken"] as? String)
            let adminToken = try await Self.token(client, email: Self.adminEmail, password: Self.adminPassword)
            let before = try #require(try await Self.users(runtime).findOne(["_id": .objectID(MongoObjectID(carol)!)]))

            func patch(_ body: String, token: String, method: HTTPRequest.Method = .patch) async throws -> TestResponse
            {
                try await client.execute(
                    uri: "/users/\(carol)",
                    method: method,
                    headers: Self.json(token),
                    body: ByteBuffer(string: body)
                ) { $0 }
            }

            var response = try await patch(
                #"{"name":" Carol B ","phone":7,"unknown":"ignored","created_at":"x"}"#,
                token: token
            )
            #expect(response.status == .ok)
            #expect(try Self.object(response)["name"] as? String == "Carol B")
            response = try await patch(#"{"name":"Carol C"}"#, token: token, method: .put)
            #expect(response.status == .ok)
            let after = try #require(try await Self.users(runtime).findOne(["_id": .objectID(MongoObjectID(carol)!)]))
            #expect(after.name == "Carol C" && after.phone == 7 && after.createdAt == before.createdAt)
            #expect(after.updatedAt > before.updatedAt)

            #expect(try await patch(#"{"name":5}"#, token: token).status == .badRequest)
            #expect(try await patch(#"{"name":"C"}"#, token: token).status == .badRequest)
            response = try await patch(#"{"email":"DAVE@example.com"}"#, token: token)
            #expect(response.status == .conflict)
            #expect(Self.errorCode(response) == "email_taken")
            response = try await patch(#"{"email":"Carol@New.Example.com"}"#, token: token)
            #expect(try Self.object(response)["email"] as? String == "carol@new.example.com")

            // Role: not by the customer itself, yes by an admin, and a refresh picks it up.
            #expect(try await patch(#"{"role":"admin"}"#, token: token).status == .forbidden)
            #expect(try await Self.users(runtime).findOne(["_id": .objectID(MongoObjectID(carol)!)])?.role == .customer)
            #expect(try await patch(#"{"role":"superuser"}"#, token: adminToken).status == .badRequest)
            response = try await patch(#"{"role":"admin"}"#, token: adminToken)
            #expect(response.status == .ok)
            #expect(try Self.object(response)["role"] as? String == "admin")
            let refreshed = try await client.execute(
                uri: "/refresh",
                method: .post,
                headers: Self.json(),
                body: ByteBuffer(string: #"{"refreshToken":"\#(refreshToken)"}"#)
            ) { try #require(try Self.object($0)["token"] as? String) }
            #expect(try await runtime.authority.verify(refreshed).role == .admin)

            // Password: needs the current one.
            response = try await patch(#"{"password":"brand new password"}"#, token: token)
            #expect(response.status == .badRequest)
            response = try await patch(
                #"{"password":"brand new password","currentPassword":"not it at all"}"#,
                token: token
            )
            #expect(response.status == .forbidden)
            #expect(Self.errorCode(response) == "wrong_password")
            response = try await patch(#"{"password":"short","currentPassword":"correct horse"}"#, token: token)
            #expect(response.status == .badRequest)
            response = try await patch(
                #"{"password":"brand new password","currentPassword":"correct horse"}"#,
                token: token
            )
            #expect(response.status == .ok)
            try await client.execute(
                uri: "/login",
                method: .post,
                headers: Self.json(),
                body: ByteBuffer(string: #"{"email":"carol@new.example.com","password":"correct horse"}"#)
            ) { #expect($0.status == .unauthorized) }
            _ = try await Self.token(client, email: "carol@new.example.com", password: "brand new password")
            let stored = try #require(try await Self.users(runtime).findOne(["_id": .objectID(MongoObjectID(carol)!)]))
            #expect(stored.password.hasPrefix("$2"))

            // Deleted: refresh is refused.
            #expect(try await patch("{}", token: adminToken, method: .delete).status == .ok)
            try await client.execute(
                uri: "/refresh",
                method: .post,
                headers: Self.json(),
                body: ByteBuffer(string: #"{"refreshToken":"\#(refreshToken)"}"#)
            ) { #expect($0.status == .unauthorized) }
        }
        await Self.cleanUp(runtime)
    }

    @Test("admin bootstrap creates exactly one admin, even when two instances start at once")
    func adminBootstrap() async throws {
        let database = TestEnvironment.uniqueName("users").replacingOccurrences(of: "-", with: "_")
        let overrides = Self.withAdmin.merging(["mongo.database": database]) { $1 }
        let first = try await TestRuntimes.make(.user, overrides: overrides.merging(["bcrypt.cost": "4"]) { $1 })
        let second = try await TestRuntimes.make(.user, overrides: overrides.merging(["bcrypt.cost": "4"]) { $1 })
        for runtime in [first, second] {
            _ = try UserSettings(runtime)
            let repository = UserRepository(
                store: runtime.store,
                relay: try runtime.makeOutboxRelay(producer: try runtime.makeProducer())
            )
            try await repository.prepare()
        }
        let created = try await withThrowingTaskGroup(of: Bool.self) { group in
            for runtime in [first, second] {
                group.addTask {
                    let repository = UserRepository(
                        store: runtime.store,
                        relay: try runtime.makeOutboxRelay(producer: try runtime.makeProducer())
                    )
                    return try await AdminBootstrap.run(
                        settings: try UserSettings(runtime),
                        repository: repository,
                        hasher: try await PasswordHasher(cost: 4),
                        logger: runtime.logger
                    )
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(created.sorted { !$0 && $1 } == [false, true])
        // A third instance, started as main starts it, creates nothing more.
        let third = try await TestRuntimes.make(.user, overrides: overrides.merging(["bcrypt.cost": "4"]) { $1 })
        let app = try await buildApplication(third)
        try await app.test(.router) { client in
            let admins = try await Self.users(third).find(["email": .string(Self.adminEmail)])
            #expect(admins.count == 1)
            #expect(admins.first?.role == .admin)
            let token = try await Self.token(client, email: Self.adminEmail, password: Self.adminPassword)
            #expect(try await third.authority.verify(token).role == .admin)
        }
        #expect(try await Self.users(first).count() == 1)
        await Self.cleanUp(first)
        await second.store.close()
        await third.store.close()
    }

    // MARK: Events

    @Test(
        "register publishes user-created and delete publishes user-deleted (keyed by user id); deleting nothing publishes nothing"
    )
    func events() async throws {
        let (runtime, app) = try await Self.makeApp(Self.withAdmin)
        let received = Received()
        let consumer = try Self.consumer(runtime, into: received)
        try await withRunning([consumer.run]) {
            try await app.test(.router) { client in
                let id = try await Self.register(client, email: "Events@Example.com")
                #expect(await eventually { !received.events(topic: Topics.userCreated.name, userId: id).isEmpty })
                let created = try #require(received.events(topic: Topics.userCreated.name, userId: id).first)
                #expect(created.key == id)
                #expect(created.body["email"] as? String == "events@example.com")
                #expect(created.body["type"] as? String == UserCreatedEvent.typeName)
                #expect((created.body["eventId"] as? String).flatMap(UUID.init(uuidString:)) != nil)
                #expect(created.body["occurredAt"] is String)

                let token = try await Self.token(client, email: "events@example.com")
                try await client.execute(uri: "/users/\(id)", method: .delete, headers: Self.json(token)) {
                    #expect($0.status == .ok)
                }
                #expect(await eventually { !received.events(topic: Topics.userDeleted.name, userId: id).isEmpty })
                let deleted = try #require(received.events(topic: Topics.userDeleted.name, userId: id).first)
                #expect(deleted.key == id)
                #expect(deleted.body["type"] as? String == UserDeletedEvent.typeName)
                #expect(deleted.body["eventId"] as? String != created.body["eventId"] as? String)

                // Deleting again (and deleting an id that never existed) is 404 and publishes nothing.
                let adminToken = try await Self.token(client, email: Self.adminEmail, password: Self.adminPassword)
                let never = MongoObjectID().hex
                for target in [id, never] {
                    try await client.execute(uri: "/users/\(target)", method: .delete, headers: Self.json(adminToken)) {
                        #expect($0.status == .notFound)
                    }
                }
                #expect(try await Self.outbox(runtime).count() == 0)
                try await Task.sleep(for: .seconds(1.5))
                #expect(received.events(topic: Topics.userCreated.name, userId: id).count == 1)
                #expect(received.events(topic: Topics.userDeleted.name, userId: id).count == 1)
                #expect(received.events(topic: Topics.userDeleted.name, userId: never).isEmpty)
            }
        }
        await Self.cleanUp(runtime)
    }

    @Test("crash between write and publish: with the broker down the event waits in the outbox, then goes out once")
    func brokerDownKeepsTheEvent() async throws {
        try await DevBrokerProcess.with(
            brokers: 1,
            partitions: 1,
            topics: [Topics.userCreated.name, Topics.userDeleted.name]
        ) {
            broker in
            let (runtime, app) = try await Self.makeApp(["kafka.brokers": broker.bootstrap])
            let received = Received()
            let consumer = try Self.consumer(runtime, into: received)
            try await withRunning([consumer.run]) {
                try await app.test(.router) { client in
                    try await broker.setDown(broker: 1)
                    // Registration does not depend on the broker.
                    let id = try await Self.register(client, email: "offline@example.com")
                    try await Task.sleep(for: .seconds(2))
                    let records = try await Self.outbox(runtime).find()
                    #expect(records.count == 1)
                    #expect(records.first?.topic == Topics.userCreated.name && records.first?.key == id)
                    #expect(received.events(topic: Topics.userCreated.name, userId: id).isEmpty)

                    try await broker.setUp(broker: 1)
                    #expect(await eventually { !received.events(topic: Topics.userCreated.name, userId: id).isEmpty })
                    #expect(try await eventually { try await Self.outbox(runtime).count() == 0 })
                    try await Task.sleep(for: .seconds(1.5))
                    #expect(received.events(topic: Topics.userCreated.name, userId: id).count == 1)
                }
            }
            await Self.cleanUp(runtime)
        }
    }
}
