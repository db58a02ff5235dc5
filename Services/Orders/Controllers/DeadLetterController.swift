import Hummingbird
import Logging
import ServiceAuth
import ServiceKit
import StorefrontAdminKit
import StorefrontContracts

/// `GET /dead-letters` (admins only): for every event topic, how many of its events consumers gave up on
/// (`<topic>.dlq`, see `KafkaBusDeadLetter`) and what became of them. The staff's health page shows it; the letters
/// themselves and their redrive stay with `storefront-admin dlq`, which reads them the same way (`EventAdmin`).
///
/// Answer: `[{topic, pending, claimed, redriven}]` in the order of `Topics.all`. `pending`: not re-driven yet;
/// `claimed`: a redrive claimed it and has not confirmed it; `redriven`: published to its topic again.
/// Errors: 401, 403, 503 `dependency_unavailable` when the brokers do not answer.
struct DeadLetterController: Sendable {
    let admin: EventAdmin

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
        var counts: [TopicCount] = []
        for topic in Topics.all {
            var count = TopicCount(topic: topic.name)
            do {
                for letter in try await self.admin.deadLetters(topic.name) {
                    switch letter.state {
                    case .pending: count.pending += 1
                    case .claimed: count.claimed += 1
                    case .redriven: count.redriven += 1
                    }
                }
            } catch {
                context.logger.warning(
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
        return CountList(topics: counts)
    }
}
