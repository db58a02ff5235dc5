import ArgumentParser
import KafkaBus
import ServiceKit
import StorefrontAdminKit

struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List consumer groups with their committed offsets and lag per partition.",
        discussion: """
            Without GROUP: every group the cluster lists plus the platform's own (on the dev broker, which cannot \
            list groups, the platform's own). LAG is what the group has not handled yet; a group that has committed \
            nothing shows '-' and counts everything stored as lag. MEMBERS is unknown on the dev broker (it cannot \
            describe groups).

            Examples:
              storefront-admin groups
              storefront-admin groups cart-service-order-group --json
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Consumer group ids (default: all).")
    var group: [String] = []

    @Flag(help: "One JSON object per group and line.")
    var json = false

    struct Row: Encodable {
        struct Position: Encodable {
            var topic: String
            var partition: Int32
            var committed: Int64?
            var end: Int64
            var lag: Int64
        }

        var group: String
        var service: String?
        var members: [String]?
        var lag: Int64
        var partitions: [Position]
    }

    func run() async throws {
        let reports = try await self.connection.withAdmin { try await $0.groups(self.group) }
        for report in reports {
            let row = Row(
                group: report.id,
                service: report.service?.executableName,
                members: report.members?.map { "\($0.clientID)@\($0.host) \($0.assignment.joined(separator: ","))" },
                lag: report.lag,
                partitions: report.positions.map {
                    .init(topic: $0.topic, partition: $0.partition, committed: $0.committed, end: $0.high, lag: $0.lag)
                }
            )
            if self.json {
                Output.json(row)
                continue
            }
            let members = row.members.map { $0.isEmpty ? "none" : $0.joined(separator: "; ") } ?? "unknown"
            Output.line("\(row.group)  service=\(row.service ?? "-")  members=\(members)  lag=\(row.lag)")
            Output.table(
                row.partitions.map {
                    [
                        "   \($0.topic)[\($0.partition)]", "committed=\($0.committed.map(String.init) ?? "-")",
                        "end=\($0.end)",
                        "lag=\($0.lag)",
                    ]
                }
            )
        }
    }
}
