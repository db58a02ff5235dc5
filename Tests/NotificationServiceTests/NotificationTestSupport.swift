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

@testable import NotificationService
@testable import UserService

/// A `NotificationSender` that records what it was asked to send and fails while told to.
///
/// Why a test double: it stands in for an e-mail relay, which has no local counterpart. Everything else in these
/// tests is real: the dev store, the dev broker and the user service.
final class RecordingSender: NotificationSender {
    struct RelayDown: Error, CustomStringConvertible {
        var description: String { "relay down: 421 service not available" }
    }

    private struct State {
        var sent: [OutgoingMessage] = []
        var attempts: [String: Int] = [:]
        /// Failures still to come; a negative number fails for ever.
        var failuresLeft = 0
    }

    private let state = Mutex(State())
    var channel: String { "test" }

    func failNext(_ count: Int) { self.state.withLock { $0.failuresLeft = count } }

    func send(_ message: OutgoingMessage) async throws {
        try self.state.withLock { state in
            state.attempts[message.notificationID, default: 0] += 1
            if state.failuresLeft != 0 {
                if state.failuresLeft > 0 { state.failuresLeft -= 1 }
                throw RelayDown()
            }
            state.sent.append(message)
        }
    }

    /// The messages delivered for `notificationID`.
    func sent(_ notificationID: String) -> [OutgoingMessage] {
        self.state.withLock { $0.sent.filter { $0.notificationID == notificationID } }
    }

    func attempts(_ notificationID: String) -> Int { self.state.withLock { $0.attempts[notificationID] ?? 0 } }
}

/// A `NotificationSender` whose relay takes `delay` to accept each message (a slow SMTP server), counting the sends
/// begun and the messages delivered.
final class SlowSender: NotificationSender {
    private let delay: Duration
    private let counts = Mutex((begun: 0, delivered: [String: Int]()))
    var channel: String { "test" }

    init(delay: Duration) { self.delay = delay }

    func send(_ message: OutgoingMessage) async throws {
        self.counts.withLock { $0.begun += 1 }
        try await Task.sleep(for: self.delay)
        self.counts.withLock { $0.delivered[message.notificationID, default: 0] += 1 }
    }

    var begun: Int { self.counts.withLock { $0.begun } }
    func delivered(_ notificationID: String) -> Int { self.counts.withLock { $0.delivered[notificationID] ?? 0 } }
}

enum NotificationTests {
    static func newID() -> String { MongoObjectID().hex }

    static var logger: Logger { Logger(label: "notification-tests") }

    static func message(_ topic: String, _ json: String, offset: Int64 = 0) -> KafkaBusMessage {
        var message = KafkaBusMessage(topic: topic, value: Array(json.utf8))
        message.partition = 0
        message.offset = offset
        return message
    }

    /// Unique consumer groups (topics are shared by every test of the run).
    static func groups() -> NotificationEventsConsumer.Groups {
        .init(
            userCreated: TestEnvironment.uniqueName("notif-user"),
            userDeleted: TestEnvironment.uniqueName("notif-userdel"),
            payment: TestEnvironment.uniqueName("notif-payment"),
            orders: TestEnvironment.uniqueName("notif-order")
        )
    }

    static func notifications(_ runtime: ServiceRuntime) -> MongoCollection<NotificationRecord> {
        NotificationRepository(store: runtime.store).collection
    }

    /// A delivery loop on `runtime`'s store with `sender` and a quick policy.
    static func delivery(
        _ runtime: ServiceRuntime,
        sender: any NotificationSender,
        maxAttempts: Int = 5,
        lease: Int64 = 60_000
    ) -> NotificationDelivery {
        NotificationDelivery(
            repository: NotificationRepository(store: runtime.store),
            sender: sender,
            users: UserClient(runtime.client),
            policy: DeliveryPolicy(maxAttempts: maxAttempts, retryBase: 20, pollInterval: 50, lease: lease),
            logger: runtime.logger
        )
    }

    struct RegisteredUser: Sendable {
        var id: String
        var email: String
    }

    /// What ``withBrokerApp(_:)`` hands its body.
    struct BrokerApp: Sendable {
        let runtime: ServiceRuntime
        let client: any TestClientProtocol
        /// Registers a new user with the real user service (which publishes `user-created`).
        let register: @Sendable () async throws -> RegisteredUser
        /// Publishes to the test's topics.
        let publisher: EventPublisher
        let notifications: MongoCollection<NotificationRecord>
        let sender: RecordingSender
    }

    /// Runs the whole notification app against the real broker (its consumers on unique groups, its delivery loop
    /// with a ``RecordingSender`` and fast polling) beside the real user service, while `body` runs.
    static func withBrokerApp(_ body: @escaping @Sendable (BrokerApp) async throws -> Void) async throws {
        try await self.withUserService { userURL, register in
            let runtime = try await TestRuntimes.make(
                .notification,
                overrides: [
                    "user.url": userURL, "notification.poll.interval.ms": "50", "notification.retry.base.ms": "50",
                ]
            )
            let sender = RecordingSender()
            let app = try await NotificationService.buildApplication(
                runtime,
                consumerGroups: self.groups(),
                sender: sender
            )
            // The runtime's one producer, which the application runs (its consumers dead-letter through it).
            let publisher = EventPublisher(producer: try runtime.makeProducer())
            let notifications = self.notifications(runtime)
            try await app.test(.router) { client in
                try await body(
                    BrokerApp(
                        runtime: runtime,
                        client: client,
                        register: register,
                        publisher: publisher,
                        notifications: notifications,
                        sender: sender
                    )
                )
            }
            await runtime.store.close()
        }
    }

    /// Runs the real user service on a live port while `body` runs; `body` gets its URL and a way to register users.
    static func withUserService(
        _ body:
            @escaping @Sendable (_ url: String, _ register: @escaping @Sendable () async throws -> RegisteredUser)
            async throws -> Void
    ) async throws {
        let runtime = try await TestRuntimes.make(.user, overrides: ["bcrypt.cost": "4"])
        let app = try await UserService.buildApplication(runtime)
        try await app.test(.live) { client in
            let url = "http://127.0.0.1:\(try #require(client.port))"
            try await body(url) {
                struct Registered: Decodable { var _id: String }
                let email = "\(TestEnvironment.uniqueName("notif"))@example.com"
                return try await client.execute(
                    uri: "/register",
                    method: .post,
                    headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"name":"Nora","email":"\#(email)","password":"correct horse battery"}"#)
                ) { response in
                    #expect(response.status == .created)
                    let registered = try JSONDecoder().decode(Registered.self, from: Data(Array(buffer: response.body)))
                    return RegisteredUser(id: registered._id, email: email)
                }
            }
        }
    }
}
