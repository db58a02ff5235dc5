import ArgumentParser
import Foundation
import KafkaBus
import StorefrontAdminKit

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Move a consumer group back so its service handles those events again.",
        discussion: """
            Like kafka-consumer-groups --reset-offsets: the group's committed offsets on TOPIC move to the given \
            place, and its service handles everything from there once it is started again. Handlers are idempotent, \
            so replaying events already handled changes nothing; replaying after data was lost rebuilds it.

            The group must have no live members: stop its service first. If it has some, nothing is changed and the \
            message names the service to stop. (To tell, the command briefly joins the group; on the dev broker, \
            which cannot describe groups, that is the only way. A join waits for the broker's rebalance delay, up to \
            the session timeout of the last member, about 10 s.)

            Recipe: rebuild carts
              1. stop cart-service
              2. storefront-admin replay cart-service-user-created-group --topic user-created --to-earliest
              3. storefront-admin replay cart-service-order-group --topic order-events --to-earliest
              4. start cart-service; `storefront-admin groups` shows its lag going to 0

            Examples:
              storefront-admin replay inventory-consumer-group --topic payment-events --to-time -1h
              storefront-admin replay notif-order-group --topic order-events --to-offset 0
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The consumer group (see `storefront-admin groups`).")
    var group: String

    @Option(help: "The topic whose offsets move.")
    var topic: String

    @Option(help: "Replay from the first event at or after this time: TIME or -10m.")
    var toTime: String?

    @Option(help: "Replay from this offset on every partition.")
    var toOffset: Int64?

    @Flag(help: "Replay everything stored.")
    var toEarliest = false

    func validate() throws {
        let chosen = [self.toTime != nil, self.toOffset != nil, self.toEarliest].filter { $0 }.count
        guard chosen == 1 else {
            throw ValidationError("give exactly one of --to-time, --to-offset, --to-earliest")
        }
        if let toTime, EventPosition.parseTime(toTime) == nil {
            throw ValidationError("--to-time: '\(toTime)' is not a time (2026-11-29T14:00:00Z) or relative (-10m)")
        }
    }

    func run() async throws {
        let target: EventAdmin.ReplayTarget
        if let toTime, let date = EventPosition.parseTime(toTime) {
            target = .time(date)
        } else if let toOffset {
            target = .offset(toOffset)
        } else {
            target = .earliest
        }
        let positions = try await self.connection.withAdmin { admin in
            try await admin.replay(group: self.group, topic: self.topic, to: target)
        }
        Output.line(
            "moved \(self.group) on \(self.topic); it will handle \(positions.reduce(0) { $0 + $1.lag }) events:"
        )
        Output.table(
            positions.map {
                [
                    "   \($0.topic)[\($0.partition)]", "committed=\($0.committed.map(String.init) ?? "-")",
                    "end=\($0.high)",
                ]
            }
        )
    }
}
