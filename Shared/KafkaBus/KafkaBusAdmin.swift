import Foundation
package import Logging

/// Operating the event log: topics with their watermarks, consumer groups with their committed offsets and lag,
/// offsets for a time, reading a range of a topic, and moving a stopped consumer group's offsets. What
/// `storefront-admin` is built on.
///
/// Topics are named logically everywhere (``KafkaBusConfiguration/topicPrefix`` is added and removed here), so the
/// same calls work against a shared cluster whose topics carry a prefix.
///
/// Works against real Kafka and against librdkafka's mock cluster (the dev broker), which lacks some of the requests
/// real Kafka has; each call says which path it takes where they differ (see "Admin tool on the dev broker" in
/// `Shared/KafkaBus/README.md`).
///
/// Threads: every librdkafka call runs on a private two-thread `BlockingExecutor`, each bounded by ``requestTimeout``;
/// nothing blocks the cooperative pool. Call ``shutdown()`` when done.
///
/// Thread-safe: everything stored is immutable or thread-safe itself.
package final class KafkaBusAdmin: Sendable {
    /// One partition's stored range.
    package struct PartitionRange: Sendable, Hashable {
        package var partition: Int32
        /// The first offset still stored.
        package var low: Int64
        /// The offset the next message will get (the end offset).
        package var high: Int64
        /// How many messages the partition holds now.
        package var messageCount: Int64 { max(0, self.high - self.low) }
    }

    /// A topic, by logical name, with its partitions.
    package struct TopicSummary: Sendable, Hashable {
        package var name: String
        package var partitions: [PartitionRange]
        package var messageCount: Int64 { self.partitions.reduce(0) { $0 + $1.messageCount } }
    }

    /// Where a consumer group stands on one partition.
    package struct GroupPosition: Sendable, Hashable {
        package var topic: String
        package var partition: Int32
        /// The next offset the group will read; `nil` when it has committed nothing there.
        package var committed: Int64?
        package var low: Int64
        package var high: Int64
        /// Messages the group has not handled yet: `high - committed`, or everything stored when it committed nothing
        /// (our consumers start at the earliest offset).
        package var lag: Int64 { max(0, self.high - (self.committed ?? self.low)) }
    }

    /// A consumer group's live members, from `DescribeConsumerGroups`.
    package struct GroupMember: Sendable, Hashable {
        package var clientID: String
        package var host: String
        /// The partitions it holds, as `topic[partition]` with logical topic names.
        package var assignment: [String]
    }

    /// ``resetOffsets(group:topic:to:)`` refused: the group has live members.
    package struct GroupIsActive: Error, Sendable, CustomStringConvertible {
        package var group: String
        /// The members, when the cluster can describe them; empty when they were detected otherwise (another member
        /// held some of the topic's partitions when we joined).
        package var members: [GroupMember]
        package var description: String {
            let who = self.members.map { "\($0.clientID)@\($0.host)" }.joined(separator: ", ")
            return "consumer group \(self.group) has live members" + (who.isEmpty ? "" : " (\(who))")
        }
    }

    /// How long each broker request may take.
    package let requestTimeout: Duration
    /// How long ``resetOffsets(group:topic:to:)`` waits to be given the group's partitions.
    package let joinTimeout: Duration
    private let configuration: KafkaBusConfiguration
    private let client: RDKafkaClient
    private let executor: BlockingExecutor
    private let logger: Logger

    /// Creates the admin client; it connects lazily. Non-blocking.
    /// - Parameters:
    ///   - configuration: Brokers, client id, topic prefix, `additional` properties.
    ///   - requestTimeout: How long each broker request may take (an unreachable broker fails within it).
    ///   - joinTimeout: How long an offset reset waits to join the group (the mock cluster delays a join after the
    ///     last member left by the group's session timeout).
    ///   - logger: Receives librdkafka's log lines.
    /// - Throws: ``KafkaBusError`` `.configuration` when librdkafka refuses a property.
    package init(
        configuration: KafkaBusConfiguration,
        requestTimeout: Duration = .seconds(5),
        joinTimeout: Duration = .seconds(45),
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.requestTimeout = requestTimeout
        self.joinTimeout = joinTimeout
        self.logger = logger
        self.client = try RDKafkaClient(
            kind: .consumer,
            properties: Self.readerProperties(configuration, groupID: Self.privateGroupID()),
            logger: logger
        )
        self.executor = BlockingExecutor(numberOfThreads: 2)
    }

    deinit {
        self.executor.shutdownInBackground()
    }

    /// Stops the client's threads. Idempotent.
    package func shutdown() async {
        await self.executor.shutdown()
    }

    /// Returns when a broker answered a metadata request.
    /// - Throws: ``KafkaBusError`` `.unavailable` when none answered within ``requestTimeout``.
    package func checkReachable() async throws {
        let timeout = self.requestTimeout.clampedMilliseconds
        try await self.executor.run { [client = self.client] in try client.requestMetadata(timeout: timeout) }
    }

    // MARK: Topics

    /// Every topic under the configured prefix (internal `__` topics left out), sorted by name, with watermarks.
    package func topics() async throws -> [TopicSummary] {
        let timeout = self.requestTimeout.clampedMilliseconds
        let prefix = self.configuration.topicPrefix
        return try await self.executor.run { [client = self.client] in
            try client.topicPartitions(timeout: timeout)
                .filter { !$0.name.hasPrefix("__") && $0.name.hasPrefix(prefix) }
                .sorted { $0.name < $1.name }
                .map { topic in
                    TopicSummary(
                        name: String(topic.name.dropFirst(prefix.count)),
                        partitions: try topic.partitions.map { partition in
                            let marks = try client.watermarks(topic: topic.name, partition: partition, timeout: timeout)
                            return PartitionRange(partition: partition, low: marks.low, high: marks.high)
                        }
                    )
                }
        }
    }

    /// The partitions of `topic` with their watermarks.
    /// - Throws: ``KafkaBusError`` `.rejected` when the topic does not exist.
    package func partitions(of topic: String) async throws -> [PartitionRange] {
        let timeout = self.requestTimeout.clampedMilliseconds
        let physical = self.configuration.physicalTopic(topic)
        return try await self.executor.run { [client = self.client] in
            guard let found = try client.topicPartitions(timeout: timeout).first(where: { $0.name == physical }),
                !found.partitions.isEmpty
            else {
                throw KafkaBusError(code: .rejected, message: "no topic named \(topic)")
            }
            return try found.partitions.map { partition in
                let marks = try client.watermarks(topic: physical, partition: partition, timeout: timeout)
                return PartitionRange(partition: partition, low: marks.low, high: marks.high)
            }
        }
    }

    // MARK: Consumer groups

    /// The consumer groups the cluster lists (Admin `ListConsumerGroups`), sorted; `nil` when the cluster cannot
    /// list them (the mock cluster answers `_UNSUPPORTED_FEATURE`): callers then fall back to the groups they know.
    package func listGroups() async throws -> [String]? {
        let timeout = self.requestTimeout.clampedMilliseconds
        return try await self.executor.run { [client = self.client] in
            try client.listConsumerGroups(timeout: timeout)?.sorted()
        }
    }

    /// The live members of `group` (Admin `DescribeConsumerGroups`); `nil` when the cluster cannot describe groups
    /// (the mock cluster).
    ///
    /// Asked only of a cluster that lists groups (`ListConsumerGroups` supported): librdkafka 2.0.2 answers a
    /// `DescribeConsumerGroups` that the broker does not support (the mock cluster) with `_UNSUPPORTED_FEATURE`, but
    /// the client then never finishes `rd_kafka_destroy` (seen with a plain C program too).
    package func members(of group: String) async throws -> [GroupMember]? {
        guard try await self.listGroups() != nil else { return nil }
        let timeout = self.requestTimeout.clampedMilliseconds
        let configuration = self.configuration
        return try await self.executor.run { [client = self.client] in
            try client.describeConsumerGroup(group, timeout: timeout).map { description in
                description.members.map { member in
                    GroupMember(
                        clientID: member.clientID,
                        host: member.host,
                        assignment: member.assignment.map {
                            "\(configuration.logicalTopic($0.topic))[\($0.partition)]"
                        }
                    )
                }
            }
        }
    }

    /// Where `group` stands on every partition of `topics`: committed offset, watermarks and lag. Reads the
    /// committed offsets with a client configured with the group's id that never joins it (OffsetFetch), so it works
    /// on both clusters and does not disturb the group.
    package func positions(of group: String, topics: [String]) async throws -> [GroupPosition] {
        var ranges: [(topic: String, range: PartitionRange)] = []
        for topic in topics {
            ranges += try await self.partitions(of: topic).map { (topic, $0) }
        }
        let timeout = self.requestTimeout.clampedMilliseconds
        let properties = Self.readerProperties(self.configuration, groupID: group)
        let configuration = self.configuration
        let logger = self.logger
        let committed = try await self.executor.run { [ranges] in
            let reader = try RDKafkaClient(kind: .consumer, properties: properties, logger: logger)
            defer { try? reader.consumerClose() }
            return try reader.committed(
                ranges.map {
                    .init(topic: configuration.physicalTopic($0.topic), partition: $0.range.partition, offset: -1001)
                },
                timeout: timeout
            )
        }
        return zip(ranges, committed).map { entry, offset in
            GroupPosition(
                topic: entry.topic,
                partition: entry.range.partition,
                committed: offset.offset >= 0 ? offset.offset : nil,
                low: entry.range.low,
                high: entry.range.high
            )
        }
    }

    /// Moves `group`'s committed offsets on `topic` to `offsets` (partition → the next offset to read), the way
    /// `kafka-consumer-groups --reset-offsets` does, but race-free on both clusters:
    ///
    /// 1. If the cluster can describe the group (real Kafka) and it has live members, refuse at once with
    ///    ``GroupIsActive`` naming them.
    /// 2. Join the group as its only member, subscribed to `topic`, and wait to be assigned partitions. If another
    ///    member is alive, the group's assignor splits the topic between us, so we hold fewer than all of its
    ///    partitions: leave and refuse with ``GroupIsActive``. (This also covers the mock cluster, which cannot describe
    ///    groups, and a member that started between step 1 and the join.)
    /// 3. Commit `offsets` as that member of the current generation: a rebalance in between fails the commit
    ///    (`ILLEGAL_GENERATION`) instead of overwriting a live member's offsets. Then leave without committing
    ///    anything else.
    ///
    /// Why join rather than commit from outside (`rd_kafka_commit` as a non-member, or `AlterConsumerGroupOffsets`):
    /// the mock cluster refuses any commit from a non-member once the group has existed (`UNKNOWN_MEMBER_ID`) and does
    /// not answer `AlterConsumerGroupOffsets`; joining works on both and closes the race between checking and
    /// committing. Cost: joining a group that turns out to be live makes its members rebalance once.
    ///
    /// - Parameters:
    ///   - group: The consumer group.
    ///   - topic: The topic (logical name); every one of its partitions must be in `offsets`.
    ///   - offsets: The next offset to read, per partition.
    /// - Throws: ``GroupIsActive``; ``KafkaBusError`` `.unavailable` when the join did not complete within
    ///   ``joinTimeout``, or the commit's error.
    package func resetOffsets(group: String, topic: String, to offsets: [Int32: Int64]) async throws {
        if let members = try await self.members(of: group), !members.isEmpty {
            throw GroupIsActive(group: group, members: members)
        }
        let partitions = try await self.partitions(of: topic)
        guard Set(partitions.map(\.partition)) == Set(offsets.keys) else {
            throw KafkaBusError.configuration("an offset reset needs an offset for every partition of \(topic)")
        }
        // The services' session timeout (KAFKA_SESSION_TIMEOUT_MS): on the mock cluster a joiner whose session timeout
        // is shorter than the last member's waits forever (its JoinGroup times out before the mock's rebalance delay,
        // the last member's session timeout − 1 s, and the retry restarts it); the services rejoining after us meet
        // the same rule, so ours must be neither shorter nor longer than theirs.
        let sessionTimeout = self.configuration.sessionTimeout.clampedMilliseconds
        var properties = Self.readerProperties(self.configuration, groupID: group)
        properties += [
            ("session.timeout.ms", String(sessionTimeout)),
            ("heartbeat.interval.ms", String(max(1, min(3000, sessionTimeout / 3)))),
        ]
        let member = try RDKafkaClient(kind: .consumer, properties: properties, logger: self.logger)
        let physical = self.configuration.physicalTopic(topic)
        let deadline = ContinuousClock.now + self.joinTimeout
        let timeout = self.requestTimeout.clampedMilliseconds
        let logger = self.logger
        try await self.executor.run { try member.subscribe(topics: [physical]) }
        var assigned: [Int32] = []
        while assigned.isEmpty {
            guard ContinuousClock.now < deadline else {
                try? await self.executor.run { try member.consumerClose() }
                throw KafkaBusError.unavailable("could not join consumer group \(group) in time")
            }
            assigned = try await self.executor.run {
                _ = member.consumerPoll(timeout: 200)
                return try member.assignment().filter { $0.topic == physical }.map(\.partition)
            }
        }
        guard assigned.count == partitions.count else {
            try? await self.executor.run { try member.consumerClose() }
            throw GroupIsActive(group: group, members: [])
        }
        let entries = offsets.sorted { $0.key < $1.key }.map {
            RDKafkaClient.PartitionOffset(topic: physical, partition: $0.key, offset: $0.value)
        }
        do {
            try await self.executor.run { try member.commit(entries, timeout: timeout) }
        } catch {
            try? await self.executor.run { try member.consumerClose() }
            throw error
        }
        try await self.executor.run { try member.consumerClose() }
        logger.debug("consumer group offsets reset", metadata: ["kafka.group": "\(group)", "kafka.topic": "\(topic)"])
    }

    // MARK: Reading

    /// The first offset of each partition of `topic` whose message is at or after `timestamp` (milliseconds since
    /// 1970); the end offset where there is none.
    ///
    /// Asks the broker first (ListOffsets by time, `rd_kafka_offsets_for_times`). The mock cluster ignores the time and
    /// answers "end" for every partition, so wherever the answer is "end" but the partition's last message is at or
    /// after `timestamp`, the offset is found by reading the partition instead (correct on both clusters; a scan,
    /// fine for the dev broker's volumes).
    package func offsets(of topic: String, atOrAfter timestamp: Int64) async throws -> [Int32: Int64] {
        let ranges = try await self.partitions(of: topic)
        let physical = self.configuration.physicalTopic(topic)
        let timeout = self.requestTimeout.clampedMilliseconds
        let answered = try await self.executor.run { [client = self.client] in
            try client.offsetsForTimes(
                ranges.map { .init(topic: physical, partition: $0.partition, offset: timestamp) },
                timeout: timeout
            )
        }
        var result: [Int32: Int64] = [:]
        var unsure: [PartitionRange] = []
        for (range, answer) in zip(ranges, answered) {
            if answer.offset >= 0 {
                result[range.partition] = answer.offset
            } else if range.messageCount == 0 {
                result[range.partition] = range.high
            } else {
                unsure.append(range)
            }
        }
        for range in unsure {
            var found: Int64?
            try await self.read(
                topic: topic,
                from: [range.partition: range.low],
                to: [range.partition: range.high]
            ) { message in
                if let time = message.timestamp, time >= timestamp {
                    found = message.offset
                    return false
                }
                return true
            }
            result[range.partition] = found ?? range.high
        }
        return result
    }

    /// Reads `topic` from the given offsets (partition → first offset; partitions not listed are not read) and hands
    /// every message, with logical topic name and timestamp, to `handle` in arrival order (per partition in offset
    /// order), until every partition reached its offset in `to` (exclusive), or, with `to` `nil`, forever (follow).
    /// `handle` returns `false` to stop early. Never joins a group or commits anything.
    /// - Throws: ``KafkaBusError`` `.unavailable` when no message arrives for `requestTimeout` × 4 while some are
    ///   still expected; whatever `handle` throws.
    package func read(
        topic: String,
        from start: [Int32: Int64],
        to end: [Int32: Int64]?,
        handle: (KafkaBusMessage) async throws -> Bool
    ) async throws {
        var remaining = Set(start.keys)
        if let end {
            remaining = remaining.filter { partition in (end[partition] ?? 0) > (start[partition] ?? 0) }
            if remaining.isEmpty { return }
        }
        let physical = self.configuration.physicalTopic(topic)
        let reader = try RDKafkaClient(
            kind: .consumer,
            properties: Self.readerProperties(self.configuration, groupID: Self.privateGroupID()),
            logger: self.logger
        )
        let entries = start.filter { remaining.contains($0.key) }.map {
            RDKafkaClient.PartitionOffset(topic: physical, partition: $0.key, offset: $0.value)
        }
        try await self.executor.run { try reader.assign(entries) }
        do {
            try await self.poll(reader, topic: topic, end: end, remaining: remaining, handle: handle)
        } catch {
            try? await self.executor.run { try reader.consumerClose() }
            throw error
        }
        try? await self.executor.run { try reader.consumerClose() }
    }

    private func poll(
        _ reader: RDKafkaClient,
        topic: String,
        end: [Int32: Int64]?,
        remaining: Set<Int32>,
        handle: (KafkaBusMessage) async throws -> Bool
    ) async throws {
        var remaining = remaining
        let stall = self.requestTimeout * 4
        var lastProgress = ContinuousClock.now
        while end == nil || !remaining.isEmpty {
            try Task.checkCancellation()
            let result = try await self.executor.run { reader.consumerPoll(timeout: 200) }
            switch result {
            case .idle, .error:
                if end != nil, ContinuousClock.now - lastProgress > stall {
                    throw KafkaBusError.unavailable("stopped receiving \(topic) before its end offsets")
                }
            case .message(var message):
                lastProgress = ContinuousClock.now
                if let end, let last = end[message.partition], message.offset >= last {
                    remaining.remove(message.partition)
                    continue
                }
                message.topic = topic
                guard try await handle(message) else { return }
                if let end, let last = end[message.partition], message.offset + 1 >= last {
                    remaining.remove(message.partition)
                }
            }
        }
    }

    // MARK: Helpers

    /// Properties of a client that reads without ever committing (and, unless it subscribes, without joining).
    private static func readerProperties(
        _ configuration: KafkaBusConfiguration,
        groupID: String
    ) -> [(name: String, value: String)] {
        var properties: [(name: String, value: String)] = [
            ("bootstrap.servers", configuration.brokers),
            ("client.id", configuration.clientID),
            ("group.id", groupID),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
        ]
        properties += configuration.additional.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return properties
    }

    /// A group id nobody else uses: readers need one to poll, but never join or commit with it.
    private static func privateGroupID() -> String {
        "storefront-admin-reader-\(UUID().uuidString.lowercased())"
    }
}
