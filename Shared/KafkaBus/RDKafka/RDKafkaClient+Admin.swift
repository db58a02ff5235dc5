internal import CRdKafka

/// The librdkafka calls behind ``KafkaBusAdmin``: cluster metadata, watermarks, offsets for a time, committed
/// offsets, consumer-group listing and description, manual assignment and explicit commits. Every C value is copied
/// into Swift values before the call returns; no pointer escapes.
///
/// Blocking: every method here waits on the network (each with a bounded `timeout` in milliseconds) unless it says
/// otherwise; call them through `BlockingExecutor` only.
extension RDKafkaClient {
    /// One partition of a topic and an offset (or a timestamp, for ``offsetsForTimes(_:timeout:)``).
    struct PartitionOffset: Sendable, Hashable {
        var topic: String
        var partition: Int32
        var offset: Int64
    }

    /// A consumer group as `DescribeConsumerGroups` reports it.
    struct GroupDescription: Sendable {
        var groupID: String
        /// `Stable`, `Empty`, `PreparingRebalance`, … (librdkafka's state names).
        var state: String
        var members: [Member]

        struct Member: Sendable {
            var clientID: String
            var host: String
            var assignment: [PartitionOffset]
        }
    }

    /// Every topic of the cluster with its partition ids (`rd_kafka_metadata` for all topics).
    /// - Throws: ``KafkaBusError`` `.unavailable` when no broker answered within `timeout`.
    func topicPartitions(timeout: Int32) throws -> [(name: String, partitions: [Int32])] {
        try self.withHandle { handle in
            var metadata: UnsafePointer<rd_kafka_metadata_t>?
            let error = rd_kafka_metadata(handle, 1, nil, &metadata, timeout)
            defer { if let metadata { rd_kafka_metadata_destroy(metadata) } }
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                throw Self.unavailable(error, context: "no broker answered a metadata request")
            }
            var topics: [(name: String, partitions: [Int32])] = []
            for index in 0..<Int(metadata.pointee.topic_cnt) {
                let topic = metadata.pointee.topics[index]
                guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
                let partitions = (0..<Int(topic.partition_cnt)).map { topic.partitions[$0].id }
                topics.append((String(cString: topic.topic), partitions.sorted()))
            }
            return topics
        }
    }

    /// The low and high watermark of a partition (`rd_kafka_query_watermark_offsets`): the first offset still stored
    /// and the offset the next message will get.
    func watermarks(topic: String, partition: Int32, timeout: Int32) throws -> (low: Int64, high: Int64) {
        try self.withHandle { handle in
            var low: Int64 = -1
            var high: Int64 = -1
            let error = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeout)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw RDKafkaError.map(error, context: "watermarks not available")
            }
            return (low, high)
        }
    }

    /// For each entry (its `offset` holding a timestamp in milliseconds), the first offset whose timestamp is at or
    /// after it (`rd_kafka_offsets_for_times`); `-1` where the broker says there is none (the end of the partition).
    func offsetsForTimes(_ entries: [PartitionOffset], timeout: Int32) throws -> [PartitionOffset] {
        try self.withHandle { handle in
            let list = Self.makeList(entries)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let error = rd_kafka_offsets_for_times(handle, list, timeout)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw RDKafkaError.map(error, context: "offsets for times not available")
            }
            return try Self.readList(list, context: "offset for a time not available")
        }
    }

    /// The offsets committed by this client's `group.id` for `partitions` (`rd_kafka_committed`); `-1001`
    /// (`RD_KAFKA_OFFSET_INVALID`) where the group has committed nothing. The client need not be a group member.
    func committed(_ partitions: [PartitionOffset], timeout: Int32) throws -> [PartitionOffset] {
        try self.withHandle { handle in
            let list = Self.makeList(partitions)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let error = rd_kafka_committed(handle, list, timeout)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw Self.unavailable(error, context: "committed offsets not available")
            }
            return try Self.readList(list, context: "committed offset not available")
        }
    }

    /// The consumer groups the cluster knows (Admin `ListConsumerGroups`); `nil` when the brokers do not support the
    /// request (librdkafka's mock cluster).
    func listConsumerGroups(timeout: Int32) throws -> [String]? {
        try self.withAdminResult(timeout: timeout, context: "consumer groups not listed") { handle, options, queue in
            rd_kafka_ListConsumerGroups(handle, options, queue)
        } read: { event in
            guard let result = rd_kafka_event_ListConsumerGroups_result(event) else { return nil }
            var errorCount = 0
            let errors = rd_kafka_ListConsumerGroups_result_errors(result, &errorCount)
            var count = 0
            let valid = rd_kafka_ListConsumerGroups_result_valid(result, &count)
            if count == 0, errorCount > 0, let errors, let first = errors[0] {
                let code = rd_kafka_error_code(first)
                if code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE { return nil }
                throw RDKafkaError.map(code, context: "consumer groups not listed")
            }
            guard let valid else { return [] }
            return (0..<count).compactMap { index in
                valid[index].map { String(cString: rd_kafka_ConsumerGroupListing_group_id($0)) }
            }
        }
    }

    /// The state and members of `groupID` (Admin `DescribeConsumerGroups`); `nil` when the brokers do not support the
    /// request (librdkafka's mock cluster).
    func describeConsumerGroup(_ groupID: String, timeout: Int32) throws -> GroupDescription? {
        try self.withAdminResult(timeout: timeout, context: "consumer group not described") { handle, options, queue in
            var name: UnsafePointer<CChar>? = nil
            groupID.withCString { pointer in
                name = pointer
                rd_kafka_DescribeConsumerGroups(handle, &name, 1, options, queue)
            }
        } read: { event in
            guard let result = rd_kafka_event_DescribeConsumerGroups_result(event) else { return nil }
            var count = 0
            guard let groups = rd_kafka_DescribeConsumerGroups_result_groups(result, &count), count > 0,
                let group = groups[0]
            else { return nil }
            if let error = rd_kafka_ConsumerGroupDescription_error(group) {
                let code = rd_kafka_error_code(error)
                if code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE { return nil }
                throw RDKafkaError.map(code, context: "consumer group not described")
            }
            var members: [GroupDescription.Member] = []
            for index in 0..<rd_kafka_ConsumerGroupDescription_member_count(group) {
                guard let member = rd_kafka_ConsumerGroupDescription_member(group, index) else { continue }
                var assignment: [PartitionOffset] = []
                if let assigned = rd_kafka_MemberDescription_assignment(member),
                    let list = rd_kafka_MemberAssignment_partitions(assigned)
                {
                    assignment = (0..<Int(list.pointee.cnt)).map { entry in
                        let element = list.pointee.elems[entry]
                        return PartitionOffset(
                            topic: String(cString: element.topic),
                            partition: element.partition,
                            offset: element.offset
                        )
                    }
                }
                members.append(
                    GroupDescription.Member(
                        clientID: String(cString: rd_kafka_MemberDescription_client_id(member)),
                        host: String(cString: rd_kafka_MemberDescription_host(member)),
                        assignment: assignment
                    )
                )
            }
            return GroupDescription(
                groupID: groupID,
                state: String(
                    cString: rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(group))
                ),
                members: members
            )
        }
    }

    /// Assigns exactly `partitions`, each starting at its `offset` (`rd_kafka_assign`; no group membership, nothing
    /// committed). Non-blocking.
    func assign(_ partitions: [PartitionOffset]) throws {
        try self.withHandle { handle in
            let list = Self.makeList(partitions)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let error = rd_kafka_assign(handle, list)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw RDKafkaError.map(error, context: "partitions not assigned")
            }
        }
    }

    /// The partitions currently assigned to this group member (`rd_kafka_assignment`). Non-blocking.
    func assignment() throws -> [PartitionOffset] {
        try self.withHandle { handle in
            var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
            let error = rd_kafka_assignment(handle, &list)
            defer { if let list { rd_kafka_topic_partition_list_destroy(list) } }
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let list else {
                throw RDKafkaError.map(error, context: "assignment not available")
            }
            return (0..<Int(list.pointee.cnt)).map { index in
                let element = list.pointee.elems[index]
                return PartitionOffset(
                    topic: String(cString: element.topic),
                    partition: element.partition,
                    offset: element.offset
                )
            }
        }
    }

    /// Commits exactly `offsets` for this client's group and waits up to `timeout` for the broker's answer
    /// (`rd_kafka_commit_queue` with an explicit list). A broker refuses it from a client that is not a member of the
    /// group's current generation while the group has members (`UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION`,
    /// `REBALANCE_IN_PROGRESS`); the error carries that code.
    func commit(_ offsets: [PartitionOffset], timeout: Int32) throws {
        try self.withHandle { handle in
            let list = Self.makeList(offsets)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let queue = rd_kafka_queue_new(handle)!
            defer { rd_kafka_queue_destroy(queue) }
            let error = rd_kafka_commit_queue(handle, list, queue, nil, nil)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw RDKafkaError.map(error, context: "offsets not committed")
            }
            guard let event = rd_kafka_queue_poll(queue, timeout) else {
                throw KafkaBusError.unavailable("commit not confirmed in time")
            }
            defer { rd_kafka_event_destroy(event) }
            var result = rd_kafka_event_error(event)
            if result == RD_KAFKA_RESP_ERR_NO_ERROR, let committed = rd_kafka_event_topic_partition_list(event) {
                for index in 0..<Int(committed.pointee.cnt) where committed.pointee.elems[index].err.rawValue != 0 {
                    result = committed.pointee.elems[index].err
                }
            }
            guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw RDKafkaError.map(result, context: "offsets not committed")
            }
        }
    }

    // MARK: Helpers

    private static func makeList(_ entries: [PartitionOffset]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    {
        let list = rd_kafka_topic_partition_list_new(Int32(clamping: max(1, entries.count)))!
        for entry in entries {
            rd_kafka_topic_partition_list_add(list, entry.topic, entry.partition)!.pointee.offset = entry.offset
        }
        return list
    }

    private static func readList(
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
        context: String
    ) throws -> [PartitionOffset] {
        try (0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            guard element.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw RDKafkaError.map(element.err, context: context)
            }
            return PartitionOffset(
                topic: String(cString: element.topic),
                partition: element.partition,
                offset: element.offset
            )
        }
    }

    /// Runs one Admin API request whose result arrives on a temporary queue, waits up to `timeout` (plus a second)
    /// for it, hands the result event to `read` and destroys everything afterwards.
    private func withAdminResult<T>(
        timeout: Int32,
        context: String,
        start: (OpaquePointer, OpaquePointer, OpaquePointer) -> Void,
        read: (OpaquePointer) throws -> T
    ) throws -> T {
        try self.withHandle { handle in
            let queue = rd_kafka_queue_new(handle)!
            defer { rd_kafka_queue_destroy(queue) }
            let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_ANY)!
            defer { rd_kafka_AdminOptions_destroy(options) }
            _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout, nil, 0)
            start(handle, options, queue)
            guard let event = rd_kafka_queue_poll(queue, timeout &+ 1000) else {
                throw KafkaBusError.unavailable("\(context): no answer in time")
            }
            defer { rd_kafka_event_destroy(event) }
            let error = rd_kafka_event_error(event)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw Self.unavailable(error, context: context)
            }
            return try read(event)
        }
    }

    /// Maps `error`, classifying a timeout or transport failure as `.unavailable`.
    private static func unavailable(_ error: rd_kafka_resp_err_t, context: String) -> KafkaBusError {
        RDKafkaError.map(error, context: context, as: .unavailable, when: [.unknown, .timedOut], retriable: true)
    }
}
