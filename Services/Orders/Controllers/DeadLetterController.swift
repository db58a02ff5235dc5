import Hummingbird
import KafkaBus
import Logging
import ServiceAuth
import ServiceKit
import StorefrontAdminKit
import StorefrontContracts
import Synchronization

/// `GET /dead-letters` (admins only): for every event topic, how many of its events consumers gave up on
/// (`<topic>.dlq`, see `KafkaBusDeadLetter`) and what became of them. The staff's health page shows it; the letters
/// themselves and their redrive stay with `storefront-admin dlq`, which reads them the same way (`EventAdmin`).
///
/// Answer: `[{topic, pending, claimed, redriven}]` in the order of `Topics.all`. `pending`: not re-driven yet;
/// `claimed`: a redrive claimed it and has not confirmed it; `redriven`: published to its topic again.
/// Errors: 401, 403, 503 `dependency_unavailable` when the brokers do not answer.
final class DeadLetterController: Sendable {
    private let kafka: KafkaBusConfiguration
    private let logger: Logger
    /// Opened by the first request and kept (closing a librdkafka client blocks, which a request must not): an order
    /// service whose staff never open the page runs no admin client, its threads and idle wake-ups.
    private let admin = Mutex<EventAdmin?>(nil)

    init(kafka: KafkaBusConfiguration, logger: Logger) {
        self.kafka = kafka
        self.logger = logger
    }

    struct TopicCount: Encodable, Sendable {
        var topic: String
        var pending = 0
        var claimed = 0
        var redriven = 0
    }

    struct CountList: ResponseEncodable {
        var topics: [TopicCount]
        func encode(to encoder: any Encoder) throws { try self.topics.encode(to: encoder) }
    }

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        group.get("/dead-letters", use: self.list)
    }

    @Sendable
    func list(request: Request, context: ServiceRequestContext) async throws -> CountList {
        _ = try context.requireRole(.admin)
        let admin = try self.admin.withLock { admin in
            if let admin { return admin }
            let opened = try EventAdmin(configuration: self.kafka, logger: self.logger)
            admin = opened
            return opened
        }
        return CountList(topics: try await Self.counts(admin, logger: context.logger))
    }

    private static func counts(_ admin: EventAdmin, logger: Logger) async throws -> [TopicCount] {
        var counts: [TopicCount] = []
        for topic in Topics.all {
            var count = TopicCount(topic: topic.name)
            do {
                for letter in try await admin.deadLetters(topic.name) {
                    switch letter.state {
                    case .pending: count.pending += 1
                    case .claimed: count.claimed += 1
                    case .redriven: count.redriven += 1
                    }
                }
            } catch {
                logger.warning(
                    "dead letters not read",
                    metadata: ["topic": "\(topic.name)", "error": "\(error)"]
                )
                throw APIError.unavailable(
                    "the dead letters of \(topic.name) could not be read from Kafka; try again",
                    code: "dependency_unavailable"
                )
            }
            counts.append(count)
        }
        return counts
    }
}
