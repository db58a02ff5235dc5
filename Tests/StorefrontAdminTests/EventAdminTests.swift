import Foundation
import KafkaBus
import ServiceKit
import StorefrontAdminKit
import StorefrontContracts
import Synchronization
import TestSupport
import Testing

/// `storefront-admin`'s logic against the real dev broker: topics, events, groups, replay's refusal, unreachable
/// brokers. Each test has topics of its own (`TestTopics`).
@Suite("storefront-admin: topics, events, groups", .timeLimit(.minutes(5)))
struct EventAdminTests {
    /// Publishes `count` `user-created` events with request ids `req-<i>`, keys `user-<i % 2>`; returns them.
    private func publishUsers(_ count: Int) async throws -> [KafkaBusDeliveryReport] {
        try await AdminTests.withProducer { producer in
            var reports: [KafkaBusDeliveryReport] = []
            for index in 0..<count {
                let event = UserCreatedEvent(email: "u\(index)@example.com", userId: "user-\(index % 2)")
                let value = try StorefrontJSON.encoder().encode(event)
                reports.append(
                    try await producer.send(
                        KafkaBusMessage(
                            topic: Topics.userCreated.name,
                            key: event.key,
                            value: Array(value),
                            headers: EventHeaders.make(
                                version: UserCreatedEvent.schemaVersion,
                                requestID: "req-\(index)",
                                trace: [:]
                            )
                        )
                    )
                )
            }
            return reports
        }
    }

    @Test("topics: partitions, end offsets and message counts of the test's topics, named without the prefix")
    func topics() async throws {
        let reports = try await self.publishUsers(5)
        try await AdminTests.withAdmin { admin in
            let topics = try await admin.topics()
            #expect(Set(topics.map(\.name)) == Set(Topics.created.map(\.name)))
            let users = try #require(topics.first { $0.name == Topics.userCreated.name })
            #expect(users.partitions.count == Topics.userCreated.partitions)
            #expect(users.messageCount == 5)
            for partition in users.partitions {
                let last = reports.filter { $0.partition == partition.partition }.map(\.offset).max()
                #expect(partition.high == (last.map { $0 + 1 } ?? 0))
            }
            #expect(topics.first { $0.name == Topics.paymentEvents.name }?.messageCount == 0)
        }
    }

    @Test(
        "events: decoded through the contracts, with partition, offset, key, time and request id; --key, --from, --to"
    )
    func events() async throws {
        let before = Date().addingTimeInterval(-1)
        let reports = try await self.publishUsers(6)
        try await AdminTests.withAdmin { admin in
            var lines: [EventLine] = []
            try await admin.events(topic: Topics.userCreated.name) { lines.append($0) }
            #expect(lines.count == 6)
            #expect(Set(lines.compactMap(\.requestId)) == Set((0..<6).map { "req-\($0)" }))
            for line in lines {
                let report = try #require(reports.first { $0.partition == line.partition && $0.offset == line.offset })
                #expect(report.topic == Topics.userCreated.name)
                #expect(line.eventType == UserCreatedEvent.typeName)
                #expect(line.eventVersion == String(UserCreatedEvent.schemaVersion))
                #expect(line.payload?["userId"]?.stringValue == line.key)
                let time = try #require(
                    line.time.flatMap { try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse($0) }
                )
                #expect(time >= before && time <= Date().addingTimeInterval(1))
                // The JSON form carries the same fields.
                let json = try JSONDecoder().decode(EventLine.self, from: Data(line.jsonLine.utf8))
                #expect(json == line)
                #expect(line.humanLine.contains("request=\(line.requestId ?? "?")"))
            }

            var keyed: [EventLine] = []
            try await admin.events(topic: Topics.userCreated.name, key: "user-1") { keyed.append($0) }
            #expect(keyed.count == 3 && keyed.allSatisfy { $0.key == "user-1" })

            // From offset 1 to offset 2 on every partition: each partition's message at offset 1, if it has one.
            var window: [EventLine] = []
            try await admin.events(topic: Topics.userCreated.name, from: .offset(1), to: .offset(2)) {
                window.append($0)
            }
            #expect(window.map(\.offset).allSatisfy { $0 == 1 })
            #expect(window.count == reports.filter { $0.offset == 1 }.count)

            // From a time after everything: nothing; from a time before: everything.
            var none: [EventLine] = []
            try await admin.events(topic: Topics.userCreated.name, from: .time(Date().addingTimeInterval(5))) {
                none.append($0)
            }
            #expect(none.isEmpty)
            var all: [EventLine] = []
            try await admin.events(topic: Topics.userCreated.name, from: .time(before)) { all.append($0) }
            #expect(all.count == 6)
        }
    }

    @Test("offsets for a time: the first message at or after it on each partition (ListOffsets, or the scan fallback)")
    func offsetsForTime() async throws {
        let first = try await self.publishUsers(3)
        let middle = Date()
        try await Task.sleep(for: .milliseconds(20))  // the next messages are stamped after `middle`
        let second = try await self.publishUsers(3)
        try await AdminTests.withAdmin { admin in
            let offsets = try await admin.kafka.offsets(
                of: Topics.userCreated.name,
                atOrAfter: Int64(middle.timeIntervalSince1970 * 1000)
            )
            for partition in 0..<Int32(Topics.userCreated.partitions) {
                let expected =
                    second.filter { $0.partition == partition }.map(\.offset).min()
                    ?? ((first + second).filter { $0.partition == partition }.map(\.offset).max().map { $0 + 1 } ?? 0)
                #expect(offsets[partition] == expected, "partition \(partition)")
            }
        }
    }

    @Test("positions: --from/--to parse offsets, ISO-8601 times and relative times")
    func positions() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try EventPosition.parse("42", now: now) == .offset(42))
        #expect(try EventPosition.parse("-10m", now: now) == .time(now.addingTimeInterval(-600)))
        #expect(try EventPosition.parse("-2h", now: now) == .time(now.addingTimeInterval(-7200)))
        #expect(try EventPosition.parse("-30s", now: now) == .time(now.addingTimeInterval(-30)))
        // 1_800_000_000 s since 1970 is 2027-01-15T08:00:00Z.
        #expect(try EventPosition.parse("2027-01-15T08:00:00Z") == .time(now))
        #expect(try EventPosition.parse("2027-01-15T09:00:00+01:00") == .time(now))
        #expect(try EventPosition.parse("2027-01-15T08:00:00.250Z") == .time(now.addingTimeInterval(0.25)))
        #expect(throws: AdminFailure.self) { try EventPosition.parse("yesterday") }
        #expect(throws: AdminFailure.self) { try EventPosition.parse("-5x") }
    }

    @Test(
        "groups and replay: lag per partition; refused while a member is live (naming the service); replayed once stopped"
    )
    func replayConsumer() async throws {
        let reports = try await self.publishUsers(4)
        let group = ConsumerGroups.cartUserCreated.id  // a platform group: the refusal names its service
        let configuration = try await AdminTests.kafkaConfiguration()
        let handled = HandledLog()
        @Sendable func consumer() throws -> KafkaBusConsumer {
            var consumerConfiguration = configuration
            consumerConfiguration.autoCommitInterval = .milliseconds(200)
            return try KafkaBusConsumer(
                configuration: consumerConfiguration,
                groupID: group,
                topics: [Topics.userCreated.name],
                logger: TestStores.logger("admin-tests")
            ) { message in handled.append("\(message.partition)@\(message.offset)") }
        }
        try await AdminTests.withAdmin { admin in
            try await withRunning([{ try await consumer().run() }]) { () async throws -> Void in
                let caughtUp = try await AdminTests.caughtUp(admin, group, Topics.userCreated.name)
                #expect(caughtUp)
                let report = try #require(try await admin.groups([group]).first)
                #expect(report.service == .cart)
                #expect(report.lag == 0)
                // Committed up to the end wherever there was something to handle.
                #expect(report.positions.filter { $0.high > 0 }.allSatisfy { $0.committed == $0.high })
                #expect(report.positions.count == Topics.userCreated.partitions)
                let refusal = await #expect(throws: AdminFailure.self) {
                    try await admin.replay(group: group, topic: Topics.userCreated.name, to: .earliest)
                }
                let text = refusal.map { "\($0)" } ?? ""
                #expect(text.contains("live members") && text.contains("cart-service"), "\(text)")
            }
            #expect(handled.all.count == 4)
            let moved = try await admin.replay(group: group, topic: Topics.userCreated.name, to: .earliest)
            #expect(moved.reduce(0) { $0 + $1.lag } == Int64(reports.count))
            try await withRunning([{ try await consumer().run() }]) { () async throws -> Void in
                let caughtUp = try await AdminTests.caughtUp(admin, group, Topics.userCreated.name)
                #expect(caughtUp)
                #expect(await eventually { handled.all.count == 8 })
            }
            // Every message was handled twice: once, then once more after the replay.
            let counts = Dictionary(grouping: handled.all, by: { $0 }).mapValues(\.count)
            #expect(counts.count == 4 && counts.values.allSatisfy { $0 == 2 }, "\(counts)")
        }
    }

    @Test("an unreachable broker: one clear error within seconds, not a hang")
    func unreachable() async throws {
        let port = try FreePort.find()
        let admin = try EventAdmin(
            configuration: KafkaBusConfiguration(brokers: "127.0.0.1:\(port)", clientID: "admin-tests"),
            requestTimeout: .seconds(2),
            logger: TestStores.logger("admin-tests")
        )
        let started = ContinuousClock.now
        let failure = await #expect(throws: AdminFailure.self) { try await admin.checkReachable() }
        #expect("\(failure.map { "\($0)" } ?? "")".contains("cannot reach the Kafka brokers at 127.0.0.1:\(port)"))
        // Seconds, not librdkafka's own time limits (a minute and more): wide for a loaded machine (12.8 s seen at load
        // average 9 with two suites and a build running).
        #expect(ContinuousClock.now - started < .seconds(40))
        await admin.shutdown()
    }
}

/// What a test's consumer handled, as `partition@offset`.
final class HandledLog: Sendable {
    private let entries = Mutex<[String]>([])

    func append(_ entry: String) { self.entries.withLock { $0.append(entry) } }
    var all: [String] { self.entries.withLock { $0 } }
}
