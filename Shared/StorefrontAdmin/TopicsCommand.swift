import ArgumentParser
import KafkaBus
import StorefrontAdminKit

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "List topics with their partitions, end offsets and message counts.",
        discussion: """
            One line per topic (under the topic prefix, named without it). END OFFSETS is partition:offset of the \
            next message; MESSAGES counts what is stored now.

            Examples:
              storefront-admin topics
              KAFKA_TOPIC_PREFIX=staging. storefront-admin topics --json
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "One JSON object per topic and line.")
    var json = false

    struct Row: Encodable {
        var topic: String
        var partitions: Int
        var messages: Int64
        var endOffsets: [String: Int64]
        var startOffsets: [String: Int64]
    }

    func run() async throws {
        let topics = try await self.connection.withAdmin { try await $0.topics() }
        let rows = topics.map { topic in
            Row(
                topic: topic.name,
                partitions: topic.partitions.count,
                messages: topic.messageCount,
                endOffsets: Dictionary(uniqueKeysWithValues: topic.partitions.map { ("\($0.partition)", $0.high) }),
                startOffsets: Dictionary(uniqueKeysWithValues: topic.partitions.map { ("\($0.partition)", $0.low) })
            )
        }
        if self.json {
            for row in rows { Output.json(row) }
            return
        }
        Output.table(
            [["TOPIC", "PARTITIONS", "MESSAGES", "END OFFSETS"]]
                + topics.map { topic in
                    [
                        topic.name, "\(topic.partitions.count)", "\(topic.messageCount)",
                        topic.partitions.map { "\($0.partition):\($0.high)" }.joined(separator: " "),
                    ]
                }
        )
    }
}
