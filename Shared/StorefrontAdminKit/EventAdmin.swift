package import Foundation
package import KafkaBus
package import Logging
package import ServiceKit
import StorefrontContracts

/// What `storefront-admin` does, without the command line: topics, consumer groups, reading events, replaying a
/// group, and dead letters (``EventAdmin+DeadLetters``). Thin over ``KafkaBusAdmin``: this layer knows the platform
/// (its topics, event types and consumer groups, `ConsumerGroups`) and turns failures into operator messages
/// (``AdminFailure``).
package final class EventAdmin: Sendable {
    /// A consumer group, where it stands and who runs it.
    package struct GroupReport: Sendable {
        package var id: String
        /// The platform service that runs it (from `ConsumerGroups`); `nil` for a group the platform does not define.
        package var service: StorefrontService?
        /// Its live members; `nil` when the cluster cannot tell (the dev broker).
        package var members: [KafkaBusAdmin.GroupMember]?
        /// Its position on each partition of its topics.
        package var positions: [KafkaBusAdmin.GroupPosition]
        package var lag: Int64 { self.positions.reduce(0) { $0 + $1.lag } }
    }

    /// Where ``replay(group:topic:to:)`` moves a group.
    package enum ReplayTarget: Sendable, Equatable {
        /// The first stored offset of every partition: everything is handled again.
        case earliest
        /// This offset on every partition (clamped to what is stored).
        case offset(Int64)
        /// The first message at or after this time on every partition.
        case time(Date)
    }

    package let configuration: KafkaBusConfiguration
    package let kafka: KafkaBusAdmin
    let logger: Logger

    /// - Parameters:
    ///   - configuration: Brokers and topic prefix (``KafkaBusConfiguration/topicPrefix``, as the services use it).
    ///   - requestTimeout: How long each broker request may take; an unreachable broker fails within it.
    ///   - joinTimeout: How long a replay may wait to join the group.
    ///   - logger: librdkafka's log lines.
    package init(
        configuration: KafkaBusConfiguration,
        requestTimeout: Duration = .seconds(5),
        joinTimeout: Duration = .seconds(45),
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.kafka = try KafkaBusAdmin(
            configuration: configuration,
            requestTimeout: requestTimeout,
            joinTimeout: joinTimeout,
            logger: logger
        )
    }

    /// Stops the Kafka client's threads.
    package func shutdown() async {
        await self.kafka.shutdown()
    }

    /// Fails with a one-line ``AdminFailure`` when no broker answers within the request timeout.
    package func checkReachable() async throws {
        do {
            try await self.kafka.checkReachable()
        } catch let error as KafkaBusError where error.code == .unavailable {
            throw AdminFailure(
                "cannot reach the Kafka brokers at \(self.configuration.brokers) (\(error.rdKafkaName ?? "no answer")): "
                    + "is the broker running? Set KAFKA_BROKERS or --brokers to its host:port list"
            )
        }
    }

    // MARK: Topics and groups

    /// Every topic under the prefix with partitions, end offsets and message counts.
    package func topics() async throws -> [KafkaBusAdmin.TopicSummary] {
        try await self.kafka.topics()
    }

    /// The consumer groups `ids`, or all the cluster lists (or, where it cannot list them, all the platform defines),
    /// with their committed offsets and lag on each partition of the topics they read.
    package func groups(_ ids: [String] = []) async throws -> [GroupReport] {
        var wanted = ids
        if wanted.isEmpty {
            let listed = try await self.kafka.listGroups()
            wanted =
                listed.map { Array(Set($0 + ConsumerGroups.all.map(\.id))).sorted() } ?? ConsumerGroups.all.map(\.id)
        }
        let existing = Set(try await self.kafka.topics().map(\.name))
        var reports: [GroupReport] = []
        for id in wanted {
            let known = ConsumerGroups.named(id)
            let members = try await self.kafka.members(of: id)
            var topics: [String]
            if let known {
                topics = [known.topic]
            } else {
                let assigned = Set((members ?? []).flatMap(\.assignment).compactMap { $0.split(separator: "[").first })
                topics = assigned.isEmpty ? Topics.created.map(\.name) : assigned.map(String.init).sorted()
            }
            topics = topics.filter(existing.contains)
            var positions = try await self.kafka.positions(of: id, topics: topics)
            if known == nil {
                // An unknown group is shown only where it has committed something.
                let committedTopics = Set(positions.filter { $0.committed != nil }.map(\.topic))
                positions = positions.filter { committedTopics.contains($0.topic) }
            }
            reports.append(GroupReport(id: id, service: known?.service, members: members, positions: positions))
        }
        return reports
    }

    // MARK: Events

    /// Reads `topic` and hands each event, decoded through the contracts, to `emit`.
    /// - Parameters:
    ///   - topic: Logical name (an event topic or a dead-letter topic).
    ///   - key: Only events with this key.
    ///   - from: Where to start; the beginning when `nil` (the current end when following).
    ///   - to: Where to stop (exclusive); the current end when `nil`. Not with `follow`.
    ///   - follow: Keep reading new events until cancelled.
    ///   - emit: Called for each event, in order per partition.
    package func events(
        topic: String,
        key: String? = nil,
        from: EventPosition? = nil,
        to: EventPosition? = nil,
        follow: Bool = false,
        emit: (EventLine) async throws -> Void
    ) async throws {
        if follow, to != nil {
            throw AdminFailure("--to and --follow exclude each other: --follow reads until interrupted")
        }
        let ranges = try await self.partitions(of: topic)
        let start: [Int32: Int64]
        switch from {
        case nil: start = Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, follow ? $0.high : $0.low) })
        case let position?: start = try await self.offsets(of: topic, at: position, ranges: ranges)
        }
        var end: [Int32: Int64]?
        if !follow {
            switch to {
            case nil: end = Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, $0.high) })
            case let position?: end = try await self.offsets(of: topic, at: position, ranges: ranges)
            }
        }
        try await self.kafka.read(topic: topic, from: start, to: end) { message in
            if let key, message.key != key { return true }
            try await emit(EventLine(message))
            return true
        }
    }

    // MARK: Replay

    /// Moves `group` back (or forward) on `topic` so its service handles those events again once restarted; refuses
    /// while the group has live members, naming the service to stop.
    /// - Returns: The group's positions afterwards.
    /// - Throws: ``AdminFailure`` (live members, unknown topic), ``KafkaBusError``.
    package func replay(
        group: String,
        topic: String,
        to target: ReplayTarget
    ) async throws -> [KafkaBusAdmin.GroupPosition] {
        let ranges = try await self.partitions(of: topic)
        let offsets: [Int32: Int64]
        switch target {
        case .earliest: offsets = Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, $0.low) })
        case .offset(let offset): offsets = try await self.offsets(of: topic, at: .offset(offset), ranges: ranges)
        case .time(let date): offsets = try await self.offsets(of: topic, at: .time(date), ranges: ranges)
        }
        do {
            try await self.kafka.resetOffsets(group: group, topic: topic, to: offsets)
        } catch let active as KafkaBusAdmin.GroupIsActive {
            throw AdminFailure(Self.stopMessage(active))
        }
        return try await self.kafka.positions(of: group, topics: [topic])
    }

    /// "consumer group X has live members (…): stop the cart service (cart-service) first, then run this again".
    static func stopMessage(_ active: KafkaBusAdmin.GroupIsActive) -> String {
        let service = ConsumerGroups.named(active.group).map { group in
            "stop the \(group.service.rawValue) service (\(group.service.executableName)) first"
        }
        return "\(active): \(service ?? "stop the service consuming with this group first"), then run this again "
            + "(offsets can only move while nobody consumes with the group)"
    }

    // MARK: Helpers

    func partitions(of topic: String) async throws -> [KafkaBusAdmin.PartitionRange] {
        do {
            return try await self.kafka.partitions(of: topic)
        } catch let error as KafkaBusError where error.code == .rejected {
            let prefix = self.configuration.topicPrefix.isEmpty ? "" : " (prefix '\(self.configuration.topicPrefix)')"
            throw AdminFailure("no topic named \(topic)\(prefix): `storefront-admin topics` lists them")
        }
    }

    /// The offset of `position` on each partition, clamped to what is stored.
    func offsets(
        of topic: String,
        at position: EventPosition,
        ranges: [KafkaBusAdmin.PartitionRange]
    ) async throws -> [Int32: Int64] {
        switch position {
        case .offset(let offset):
            return Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, min(max(offset, $0.low), $0.high)) })
        case .time(let date):
            return try await self.kafka.offsets(
                of: topic,
                atOrAfter: Int64((date.timeIntervalSince1970 * 1000).rounded())
            )
        }
    }
}
