import Hummingbird
import KafkaBus
import Logging
import ServiceKit

/// The dev broker's HTTP control API (JSON in and out; errors as `{"error":{"code","message"}}`):
///
/// - `GET /` → `{"bootstrap": ..., "brokers": N, "topics": [...]}`
/// - `POST /brokers/{id}/down[?seconds=N]`: take broker `id` (1...N) down, back up by itself after N seconds if given.
/// - `POST /brokers/{id}/up`
/// - `POST /errors` `{"api": "produce", "error": "NOT_LEADER_FOR_PARTITION", "count": 3}`: fail the next `count`
///   requests of that API.
/// - `POST /topics` `{"name": ..., "partitions": N}`
///
/// The cluster calls run on the cluster's own threads (`KafkaMockCluster`), never on the event loop.
struct ControlAPI: Sendable {
    /// Kafka protocol ApiKey numbers by the names `POST /errors` accepts (lowercase, without `_`/`-`).
    static let apiKeys: [String: Int16] = [
        "produce": 0, "fetch": 1, "listoffsets": 2, "metadata": 3, "offsetcommit": 8, "offsetfetch": 9,
        "findcoordinator": 10, "joingroup": 11, "heartbeat": 12, "leavegroup": 13, "syncgroup": 14,
        "initproducerid": 22,
    ]

    /// `GET /` response.
    struct StatusResponse: ResponseEncodable {
        let bootstrap: String
        let brokers: Int
        let topics: [String]
    }

    /// `POST /brokers/{id}/down|up` response.
    struct BrokerResponse: ResponseEncodable {
        let broker: Int
        let state: String
        let upAfterSeconds: Int?
    }

    /// `POST /errors` request and response.
    struct ErrorsRequest: Codable, ResponseEncodable {
        let api: String
        let error: String
        let count: Int
    }

    /// `POST /topics` request and response.
    struct TopicRequest: Codable, ResponseEncodable {
        let name: String
        let partitions: Int
    }

    let cluster: KafkaMockCluster

    /// Registers the routes on `router`.
    func addRoutes(to router: Router<BasicRequestContext>) {
        router.add(middleware: ErrorMiddleware())
        router.get("/", use: self.status)
        router.post("/brokers/:id/down", use: self.setDown)
        router.post("/brokers/:id/up", use: self.setUp)
        router.post("/errors", use: self.pushErrors)
        router.post("/topics", use: self.createTopic)
    }

    /// Describes the cluster.
    @Sendable func status(request: Request, context: some RequestContext) async throws -> StatusResponse {
        StatusResponse(
            bootstrap: self.cluster.bootstrap,
            brokers: self.cluster.brokerCount,
            topics: self.cluster.topics
        )
    }

    /// Takes a broker down, optionally for `seconds` only.
    @Sendable func setDown(request: Request, context: some RequestContext) async throws -> BrokerResponse {
        let broker = try self.brokerID(context)
        var upAfter: Int?
        if let text = request.uri.queryParameters.get("seconds") {
            guard let seconds = Int(text), seconds >= 0, seconds <= 3600 else {
                throw APIError(.badRequest, code: "invalid_seconds", message: "seconds must be an integer in 0...3600")
            }
            upAfter = seconds
        }
        try await self.mapped { try await self.cluster.setBrokerDown(broker, upAfter: upAfter.map { .seconds($0) }) }
        context.logger.info(
            "broker down",
            metadata: ["broker": "\(broker)", "up_after_s": "\(upAfter.map(String.init) ?? "-")"]
        )
        return BrokerResponse(broker: broker, state: "down", upAfterSeconds: upAfter)
    }

    /// Brings a broker back up.
    @Sendable func setUp(request: Request, context: some RequestContext) async throws -> BrokerResponse {
        let broker = try self.brokerID(context)
        try await self.mapped { try await self.cluster.setBrokerUp(broker) }
        context.logger.info("broker up", metadata: ["broker": "\(broker)"])
        return BrokerResponse(broker: broker, state: "up", upAfterSeconds: nil)
    }

    /// Injects request errors.
    @Sendable func pushErrors(request: Request, context: some RequestContext) async throws -> ErrorsRequest {
        let body = try await self.decode(ErrorsRequest.self, request, context)
        let normalized = body.api.lowercased().filter { $0 != "_" && $0 != "-" }
        guard let apiKey = Self.apiKeys[normalized] else {
            let known = Self.apiKeys.keys.sorted().joined(separator: ", ")
            throw APIError(.badRequest, code: "unknown_api", message: "unknown api '\(body.api)'; known: \(known)")
        }
        guard KafkaMockCluster.isKnownErrorName(body.error) else {
            throw APIError(.badRequest, code: "unknown_error", message: "unknown librdkafka error name '\(body.error)'")
        }
        guard body.count >= 1, body.count <= 10_000 else {
            throw APIError(.badRequest, code: "invalid_count", message: "count must be an integer in 1...10000")
        }
        try await self.mapped {
            try await self.cluster.pushRequestErrors(apiKey: apiKey, errorName: body.error, count: body.count)
        }
        context.logger.info(
            "request errors pushed",
            metadata: ["api": "\(body.api)", "error": "\(body.error)", "count": "\(body.count)"]
        )
        return body
    }

    /// Creates a topic.
    @Sendable func createTopic(
        request: Request,
        context: some RequestContext
    ) async throws -> EditedResponse<TopicRequest> {
        let body = try await self.decode(TopicRequest.self, request, context)
        guard !body.name.isEmpty, body.partitions >= 1, body.partitions <= 1000 else {
            throw APIError(
                .badRequest,
                code: "invalid_topic",
                message: "name must be non-empty and partitions in 1...1000"
            )
        }
        try await self.mapped { try await self.cluster.createTopic(body.name, partitions: body.partitions) }
        context.logger.info("topic created", metadata: ["topic": "\(body.name)", "partitions": "\(body.partitions)"])
        return EditedResponse(status: .created, response: body)
    }

    private func brokerID(_ context: some RequestContext) throws -> Int {
        guard let text = context.parameters.get("id"), let id = Int(text) else {
            throw APIError(.badRequest, code: "invalid_broker", message: "broker id must be an integer")
        }
        guard (1...self.cluster.brokerCount).contains(id) else {
            throw APIError(
                .notFound,
                code: "unknown_broker",
                message: "unknown broker \(id): brokers are 1...\(self.cluster.brokerCount)"
            )
        }
        return id
    }

    private func decode<T: Decodable>(
        _ type: T.Type,
        _ request: Request,
        _ context: some RequestContext
    ) async throws -> T {
        do {
            return try await request.decode(as: type, context: context)
        } catch {
            throw APIError(.badRequest, code: "bad_request", message: "request body is not the expected JSON object")
        }
    }

    /// Runs a cluster call, turning `KafkaBusError`s into control API errors.
    private func mapped(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as KafkaBusError {
            switch error.code {
            case .configuration: throw APIError(.badRequest, code: "invalid_request", message: error.message)
            case .shutdown: throw APIError(.serviceUnavailable, code: "shutting_down", message: error.message)
            default: throw APIError(.conflict, code: "cluster_error", message: error.description)
            }
        }
    }
}
