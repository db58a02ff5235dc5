import ArgumentParser
import Foundation
import KafkaBus
import StorefrontAdminKit

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print a topic's events, decoded through the contracts, one per line.",
        discussion: """
            Each line: time, topic[partition]@offset, key, request id (x-request-id), event type, payload. \
            --json prints one object per line with the same fields (and payload as JSON) for jq and scripts. \
            A dead-letter topic (TOPIC.dlq) decodes as its original topic.

            --from and --to take an offset (the same on every partition), an ISO-8601 time \
            (2026-11-29T14:00:00Z) or a time relative to now (-10m, -2h, -30s, -1d). --to stops before it; \
            without it, reading stops at the end offsets of when the command started. --follow keeps printing new \
            events until Ctrl-C (from the end, unless --from says otherwise).

            Examples:
              storefront-admin events payment-events
              storefront-admin events order-events --key 65f1c0ffee0000000000abcd --from -2h
              storefront-admin events user-created --from 2026-11-29T14:00:00Z --to 2026-11-29T15:00:00Z --json
              storefront-admin events payment-events --follow
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The topic, as named in the contracts (e.g. payment-events, user-created.dlq).")
    var topic: String

    @Option(help: "Only events with this key (the entity id).")
    var key: String?

    @Option(help: "Start here: OFFSET, TIME or -10m (default: the beginning).")
    var from: String?

    @Option(help: "Stop before here: OFFSET, TIME or -10m (default: the current end).")
    var to: String?

    @Flag(help: "Keep reading new events until interrupted.")
    var follow = false

    @Flag(help: "One JSON object per event and line.")
    var json = false

    func run() async throws {
        let now = Date()
        try await self.connection.withAdmin { admin in
            try await admin.events(
                topic: self.topic,
                key: self.key,
                from: try self.from.map { try EventPosition.parse($0, now: now) },
                to: try self.to.map { try EventPosition.parse($0, now: now) },
                follow: self.follow
            ) { line in
                Output.line(self.json ? line.jsonLine : line.humanLine)
            }
        }
    }
}
