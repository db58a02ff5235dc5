import ArgumentParser
import Foundation
import KafkaBus
import Logging
import StorefrontAdminKit

/// `storefront-admin`: look at and operate the platform's events. Parsing and printing only; the logic is
/// `StorefrontAdminKit.EventAdmin`.
@main
struct StorefrontAdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storefront-admin",
        abstract: "Look at and operate Storefront's events: topics, consumer groups, events, replays, dead letters.",
        discussion: """
            Talks to the brokers in KAFKA_BROKERS (or --brokers) and adds KAFKA_TOPIC_PREFIX (or --topic-prefix) to \
            every topic, exactly as the services do, so topics are always named as in the contracts.

            Examples:
              storefront-admin topics
              storefront-admin groups
              storefront-admin events payment-events --from -10m
              storefront-admin replay cart-service-order-group --topic order-events --to-earliest
              storefront-admin dlq list
            """,
        subcommands: [
            TopicsCommand.self, GroupsCommand.self, EventsCommand.self, ReplayCommand.self, DeadLettersCommand.self,
        ]
    )
}

/// Where the brokers are, shared by every subcommand.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Bootstrap brokers, host:port[,host:port…] (default: $KAFKA_BROKERS).")
    var brokers: String?

    @Option(help: "Prefix of every topic name on the cluster (default: $KAFKA_TOPIC_PREFIX, else none).")
    var topicPrefix: String?

    @Option(help: "Seconds each broker request may take before the broker counts as unreachable.")
    var timeout: Int = 5

    @Flag(help: "Print librdkafka's log lines to stderr.")
    var verbose = false

    func kafkaConfiguration() throws -> KafkaBusConfiguration {
        let environment = ProcessInfo.processInfo.environment
        guard let brokers = self.brokers ?? environment["KAFKA_BROKERS"], !brokers.isEmpty else {
            throw AdminFailure(
                "no brokers: set KAFKA_BROKERS (scripts/stack prints it; the dev broker writes it to its bootstrap "
                    + "file) or pass --brokers host:port"
            )
        }
        var configuration = KafkaBusConfiguration(brokers: brokers, clientID: "storefront-admin")
        configuration.topicPrefix = self.topicPrefix ?? environment["KAFKA_TOPIC_PREFIX"] ?? ""
        // A replay joins the group with the services' session timeout (see KafkaBusAdmin.resetOffsets).
        if let milliseconds = environment["KAFKA_SESSION_TIMEOUT_MS"].flatMap(Int.init), milliseconds > 0 {
            configuration.sessionTimeout = .milliseconds(milliseconds)
        }
        // Fail fast on an unreachable broker instead of retrying in the background for long.
        configuration.messageTimeout = .seconds(max(1, self.timeout) * 2)
        configuration.additional["socket.connection.setup.timeout.ms"] = String(max(1, self.timeout) * 1000)
        return configuration
    }

    var logger: Logger {
        let level: Logger.Level = self.verbose ? .debug : .critical
        var logger = Logger(label: "storefront-admin") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = level
        return logger
    }

    /// Runs `body` with a connected ``EventAdmin``, turning operator failures into one line on stderr and exit 1.
    func withAdmin<T>(joinTimeout: Duration = .seconds(45), _ body: (EventAdmin) async throws -> T) async throws -> T {
        do {
            let admin = try EventAdmin(
                configuration: try self.kafkaConfiguration(),
                requestTimeout: .seconds(max(1, self.timeout)),
                joinTimeout: joinTimeout,
                logger: self.logger
            )
            do {
                try await admin.checkReachable()
                let result = try await body(admin)
                await admin.shutdown()
                return result
            } catch {
                await admin.shutdown()
                throw error
            }
        } catch let failure as AdminFailure {
            Output.error(failure.description)
            throw ExitCode.failure
        } catch let error as KafkaBusError {
            Output.error(error.description)
            throw ExitCode.failure
        }
    }
}

/// Writing to stdout and stderr.
enum Output {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data("storefront-admin: error: \(text)\n".utf8))
    }

    /// A value as one JSON line, keys sorted.
    static func json(_ value: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.line((try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null")
    }

    /// Left-aligned columns.
    static func table(_ rows: [[String]]) {
        guard let width = rows.map(\.count).max() else { return }
        let widths = (0..<width).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            self.line(cells.joined(separator: "  "))
        }
    }
}
